{{/* Chart name, overridable. */}}
{{- define "footprint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name: the release name, with the chart name unless the release already contains it. */}}
{{- define "footprint.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "footprint.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "footprint.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "footprint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "footprint.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "footprint.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "footprint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: node-agent
{{- end }}

{{- define "footprint.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "footprint.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "footprint.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* uid 0 is needed only to read root-only files: RAPL energy_uj and the kubelet's pod-resources socket. */}}
{{- define "footprint.needsRoot" -}}
{{- if or .Values.rapl.enabled .Values.podResources.enabled }}true{{ end }}
{{- end }}

{{/* Where the hostPath NVML library is mounted inside the container. */}}
{{- define "footprint.nvmlMountPath" -}}
/usr/local/footprint/nvidia/libnvidia-ml.so.1
{{- end }}

{{/*
The daemon's config file: the user's `config` values, then the keys the chart owns (listeners on the
service ports, Kubernetes attribution on), which win because the manifests depend on them.
*/}}
{{- define "footprint.config" -}}
{{- $owned := dict "listen" (printf "0.0.0.0:%v" .Values.service.metricsPort) "ingestListen" (printf "0.0.0.0:%v" .Values.service.ingestPort) "ingestGrpcListen" (printf "0.0.0.0:%v" .Values.service.ingestGrpcPort) "kubernetes" true }}
{{- if eq .Values.nvidia.mode "hostPath" }}
{{- $_ := set $owned "nvmlLibrary" (include "footprint.nvmlMountPath" .) }}
{{- end }}
{{- if include "footprint.ingestTokenSecret" . }}
{{- if .Values.config.ingestTokenFile }}
{{- fail "config.ingestTokenFile and ingestToken.create/existingSecret both set the ingest token: use one" }}
{{- end }}
{{- $_ := set $owned "ingestTokenFile" (printf "%s/%s" (include "footprint.ingestTokenDir" .) .Values.ingestToken.key) }}
{{- end }}
{{- toYaml (mustMergeOverwrite (deepCopy .Values.config) $owned) }}
{{- end }}

{{/*
The Secret holding the ingest token: the user's (ingestToken.existingSecret), the chart's
(ingestToken.create), or empty when the ingest takes no token.
*/}}
{{- define "footprint.ingestTokenSecret" -}}
{{- if .Values.ingestToken.existingSecret }}
{{- .Values.ingestToken.existingSecret }}
{{- else if .Values.ingestToken.create }}
{{- printf "%s-ingest-token" (include "footprint.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Where the ingest token's Secret is mounted. */}}
{{- define "footprint.ingestTokenDir" -}}
/etc/footprint-ingest-token
{{- end }}

{{/*
Relabelings every scrape of the daemon gets: the dashboards' node filter reads `instance`, so it names the
node (as kube-prometheus does for node-exporter) instead of a pod IP that changes on every rollout; `node`
keeps the name under its own label for queries that relabel `instance` elsewhere. The user's own
relabelings (`relabelings` values) come after these and can override them.
*/}}
{{- define "footprint.nodeRelabelings" -}}
- sourceLabels: [__meta_kubernetes_pod_node_name]
  targetLabel: instance
  action: replace
- sourceLabels: [__meta_kubernetes_pod_node_name]
  targetLabel: node
  action: replace
{{- end }}
