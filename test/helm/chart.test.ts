// The chart rendered and linted by a real helm, its objects validated against the Kubernetes OpenAPI
// schemas (kubernetes-models), and the least-privilege properties asserted.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { CONFIG_KEYS, parseConfig } from '../../src/config.ts';
import { ASSETS, assetNames } from '../../deploy/helm/sync-assets.ts';
import { helmBinary } from '../support/helm.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const CHART = join(REPO, 'deploy', 'helm', 'footprint');
const CI_VALUES = readdirSync(join(CHART, 'ci')).filter((name) => name.endsWith('-values.yaml'));
const helm = helmBinary();

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** Runs helm; on failure returns helm's own message instead of throwing, for the negative tests. */
function runHelm(args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(helm!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

function render(...args: string[]): K8sObject[] {
  const { ok, output } = runHelm(['template', 'fp', CHART, '--namespace', 'footprint', ...args]);
  if (!ok) throw new Error(output);
  return parseAllDocuments(output)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const matching = objects.filter((object) => object.kind === kind);
  expect(matching, kind).toHaveLength(1);
  return matching[0]!;
}

/** Schema validation of every built-in kind the chart renders; throws with the offending path. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/DaemonSet': DaemonSet,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};
const OPERATOR_KINDS = new Set(['ServiceMonitor', 'PodMonitor', 'PrometheusRule']);

function validate(objects: K8sObject[]): void {
  for (const object of objects) {
    const Model = MODELS[`${object.apiVersion}/${object.kind}`];
    if (Model) {
      new Model(object as never).validate();
    } else {
      // The Prometheus Operator kinds have no schema in kubernetes-models; their shape is asserted below.
      expect(OPERATOR_KINDS.has(object.kind), `${object.apiVersion} ${object.kind}`).toBe(true);
      expect(object.apiVersion).toBe('monitoring.coreos.com/v1');
    }
  }
}

type PodSpec = {
  securityContext: Record<string, unknown>;
  containers: {
    securityContext: Record<string, unknown>;
    env: { name: string; value?: string; valueFrom?: unknown }[];
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    args: string[];
    ports: { name: string; containerPort: number }[];
    livenessProbe: { httpGet: { path: string; port: string } };
    readinessProbe: { httpGet: { path: string; port: string } };
    resources: unknown;
  }[];
  volumes: { name: string; hostPath?: { path: string }; secret?: unknown }[];
  runtimeClassName?: string;
  hostPID?: boolean;
  hostNetwork?: boolean;
};

function podSpecOf(objects: K8sObject[]): PodSpec {
  return (only(objects, 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}

function checksumOf(objects: K8sObject[]): string {
  const daemonSet = only(objects, 'DaemonSet') as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
  return daemonSet.spec.template.metadata.annotations['checksum/config']!;
}

function daemonConfig(objects: K8sObject[]): Record<string, unknown> {
  const configMaps = objects.filter((object) => object.kind === 'ConfigMap' && (object.data as Record<string, string>)['config.yaml']);
  expect(configMaps).toHaveLength(1);
  return parseYaml((configMaps[0]!.data as Record<string, string>)['config.yaml']!) as Record<string, unknown>;
}

describe.skipIf(!helm)('helm chart deploy/helm/footprint', () => {
  it.each(['(defaults)', ...CI_VALUES])('passes helm lint --strict with %s', (values) => {
    const args = ['lint', '--strict', CHART, ...(values === '(defaults)' ? [] : ['-f', join(CHART, 'ci', values)])];
    const { ok, output } = runHelm(args);
    expect(output).toContain('0 chart(s) failed');
    expect(ok).toBe(true);
  });

  it.each(['(defaults)', ...CI_VALUES])('renders objects valid against the Kubernetes schemas with %s', (values) => {
    const objects = render(...(values === '(defaults)' ? [] : ['-f', join(CHART, 'ci', values)]));
    validate(objects);
    // The rendered config file is one the daemon itself accepts: keys exactly as in src/config.ts.
    expect(() => parseConfig(daemonConfig(objects))).not.toThrow();
  });

  it('runs the defaults as a non-root, unprivileged, read-only container', () => {
    const objects = render();
    const pod = podSpecOf(objects);
    const [container] = pod.containers;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container!.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
    // Every host path is mounted read-only under /host, which is what --host-root points at.
    const hostVolumes = new Set(pod.volumes.filter((volume) => volume.hostPath).map((volume) => volume.name));
    const hostMounts = container!.volumeMounts.filter((mount) => hostVolumes.has(mount.name));
    expect(hostMounts.map((mount) => mount.mountPath).sort()).toEqual(['/host/proc', '/host/sys']);
    expect(hostMounts.every((mount) => mount.readOnly === true)).toBe(true);
    expect(container!.args).toContain('--host-root=/host');
    expect(container!.env.find((env) => env.name === 'FOOTPRINT_NODE_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    // V8 sizes its heap at start, so the flags travel in NODE_OPTIONS (values.yaml says why); a plain
    // `docker run` of the image gets the same flags from the Dockerfile.
    expect(readFileSync(join(REPO, 'Dockerfile'), 'utf8')).toContain('ENV NODE_OPTIONS="--max-semi-space-size=1 --v8-pool-size=1" MALLOC_ARENA_MAX=2');
    expect(container!.env.find((env) => env.name === 'NODE_OPTIONS')?.value).toBe('--max-semi-space-size=1 --v8-pool-size=1');
    expect(container!.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container!.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container!.resources).toEqual({ requests: { cpu: '50m', memory: '256Mi' }, limits: { cpu: '500m', memory: '512Mi' } });
    expect(pod.runtimeClassName).toBe('nvidia');
  });

  it("passes the memory request as the daemon's memoryLimit in bytes, with no V8 heap flag; without a request the daemon reads its cgroup, and config.memoryLimit wins", () => {
    const [container] = podSpecOf(render()).containers;
    const env = Object.fromEntries(container!.env.map((entry) => [entry.name, entry]));
    // Divisor 1 (the default): the API server accepts only 1, 1Ki, 1Mi... for memory (a divisor of 8Mi is refused).
    expect(env.FOOTPRINT_MEMORY_LIMIT).toEqual({
      name: 'FOOTPRINT_MEMORY_LIMIT',
      valueFrom: { resourceFieldRef: { containerName: 'footprint', resource: 'requests.memory' } },
    });
    expect(env.MALLOC_ARENA_MAX).toEqual({ name: 'MALLOC_ARENA_MAX', value: '2' });
    // The kubelet writes the request 256Mi as 268435456: the daemon's budget is 256 MiB.
    expect(parseConfig({ memoryLimit: String(256 * 2 ** 20) }).memoryLimit).toBe(256 * 2 ** 20);
    expect(env.NODE_OPTIONS!.value).not.toContain('max-old-space-size');
    const [unrequested] = podSpecOf(render('--set', 'resources.requests=null')).containers;
    expect(unrequested!.env.map((entry) => entry.name)).not.toContain('FOOTPRINT_MEMORY_LIMIT');
    // A memoryLimit in config goes in the config file, which the environment would override: the env is left out.
    const [configured] = podSpecOf(render('--set', 'config.memoryLimit=300Mi')).containers;
    expect(configured!.env.map((entry) => entry.name)).not.toContain('FOOTPRINT_MEMORY_LIMIT');
  });

  it('grants get, list and watch on pods and nothing else', () => {
    const role = only(render(), 'ClusterRole') as unknown as { rules: unknown[] };
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
  });

  it('serves metrics on 9464, OTLP/HTTP ingest on 4318 and OTLP/gRPC on 4317, node-local', () => {
    const service = only(render(), 'Service') as unknown as {
      spec: { ports: { name: string; port: number; appProtocol?: string }[]; internalTrafficPolicy: string };
    };
    expect(service.spec.ports.map(({ name, port }) => [name, port])).toEqual([
      ['metrics', 9464],
      ['ingest', 4318],
      ['ingest-grpc', 4317],
    ]);
    expect(service.spec.ports[2]!.appProtocol).toBe('grpc');
    const container = podSpecOf(render()).containers[0]!;
    expect(container.ports.map(({ name, containerPort }) => [name, containerPort])).toEqual([
      ['metrics', 9464],
      ['ingest', 4318],
      ['ingest-grpc', 4317],
    ]);
    expect(service.spec.internalTrafficPolicy).toBe('Local');
  });

  it('runs as uid 0 with rapl.enabled, keeping every other restriction, and mounts the pod-resources directory read-only', () => {
    const pod = podSpecOf(render('-f', join(CHART, 'ci', 'rapl-values.yaml')));
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: false, runAsUser: 0 });
    expect(pod.containers[0]!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const podResources = pod.containers[0]!.volumeMounts.find((mount) => mount.name === 'pod-resources');
    expect(podResources).toEqual({ name: 'pod-resources', mountPath: '/host/var/lib/kubelet/pod-resources', readOnly: true });
    // hostPath mode mounts the library file and points the daemon at it instead of using the runtime class.
    expect(pod.runtimeClassName).toBeUndefined();
    const nvml = pod.containers[0]!.volumeMounts.find((mount) => mount.name === 'nvml')!;
    expect(nvml.readOnly).toBe(true);
  });

  it('lets values.schema.json take every config key the daemon knows, and no other', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    expect(Object.keys(schema.properties.config.properties).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it('rolls the pods when the config changes', () => {
    expect(checksumOf(render())).toBe(checksumOf(render()));
    expect(checksumOf(render('--set', 'config.logLevel=debug'))).not.toBe(checksumOf(render()));
  });

  it('renders the Prometheus rules and Grafana dashboards from the chart copies', () => {
    const objects = render('-f', join(CHART, 'ci', 'monitoring-values.yaml'));
    const rule = only(objects, 'PrometheusRule') as unknown as { spec: { groups: unknown[] }; metadata: { labels: Record<string, string> } };
    const sourceGroups = assetNames(ASSETS[0].source, '.yaml').flatMap(
      (name) => (parseYaml(readFileSync(join(ASSETS[0].source, name), 'utf8')) as { groups: unknown[] }).groups,
    );
    expect(rule.spec.groups).toEqual(sourceGroups);
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(only(objects, 'ServiceMonitor').metadata.labels?.release).toBe('kube-prometheus-stack');
    const dashboards = objects.filter((object) => object.kind === 'ConfigMap' && object.metadata.labels?.grafana_dashboard === '1');
    expect(dashboards.map((object) => Object.keys(object.data as object)[0]).sort()).toEqual(assetNames(ASSETS[1].source, '.json'));
    for (const dashboard of dashboards) {
      expect(dashboard.metadata.namespace).toBe('monitoring');
      const [name, json] = Object.entries(dashboard.data as Record<string, string>)[0]!;
      expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(ASSETS[1].source, name), 'utf8')));
    }
  });

  it.each([
    ['ServiceMonitor', 'serviceMonitor', 'endpoints'],
    ['PodMonitor', 'podMonitor', 'podMetricsEndpoints'],
  ])('%s names each target after its node in instance and node, before the user relabelings', (kind, key, endpointsField) => {
    const user = { targetLabel: 'cluster', replacement: 'prod-eu' };
    const monitor = only(render('--set', `${key}.enabled=true`, '--set-json', `${key}.relabelings=[${JSON.stringify(user)}]`), kind);
    const [endpoint] = (monitor as unknown as { spec: Record<string, { relabelings: unknown[] }[]> }).spec[endpointsField]!;
    // The dashboards' node variable reads `instance` (docs/dashboards.md).
    expect(endpoint!.relabelings).toEqual([
      { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance', action: 'replace' },
      { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' },
      user,
    ]);
  });

  it('admits ingest from pods of the cluster only and /metrics from the monitoring namespace only, by default', () => {
    const objects = render();
    const policy = only(objects, 'NetworkPolicy') as unknown as { spec: Record<string, unknown> };
    const daemonSet = only(objects, 'DaemonSet') as unknown as { spec: { selector: { matchLabels: Record<string, string> } } };
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: daemonSet.spec.selector.matchLabels },
      policyTypes: ['Ingress'],
      ingress: [
        // Every pod of every namespace, and no ipBlock: nothing from outside the cluster.
        {
          ports: [
            { port: 'ingest', protocol: 'TCP' },
            { port: 'ingest-grpc', protocol: 'TCP' },
          ],
          from: [{ namespaceSelector: {}, podSelector: {} }],
        },
        { ports: [{ port: 'metrics', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
      ],
    });
    // The named ports the policy admits are the container's.
    expect(podSpecOf(objects).containers[0]!.ports.map((port) => port.name)).toEqual(['metrics', 'ingest', 'ingest-grpc']);

    const narrowed = only(
      render(
        '--set-json',
        'networkPolicy.ingestFrom=[{"namespaceSelector":{"matchLabels":{"footprint.dev/ingest":"true"}}}]',
        '--set-json',
        'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"observability"}},"podSelector":{"matchLabels":{"app.kubernetes.io/name":"prometheus"}}}]',
      ),
      'NetworkPolicy',
    ) as unknown as { spec: { ingress: { from: unknown[] }[] } };
    expect(narrowed.spec.ingress.map((rule) => rule.from)).toEqual([
      [{ namespaceSelector: { matchLabels: { 'footprint.dev/ingest': 'true' } } }],
      [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ],
    ]);
    // Empty lists let no pod in (only the node): the rule goes, since a rule without `from` would admit everyone.
    const closed = only(render('--set-json', 'networkPolicy.ingestFrom=[]', '--set-json', 'networkPolicy.metricsFrom=[]'), 'NetworkPolicy') as unknown as {
      spec: Record<string, unknown>;
    };
    expect(closed.spec.ingress).toEqual([]);
    expect(render('--set', 'networkPolicy.enabled=false').filter((object) => object.kind === 'NetworkPolicy')).toEqual([]);
  });

  it('takes no ingest token by default; creates one in a Secret, or mounts an existing Secret, as the file ingestTokenFile names', () => {
    const plain = render();
    expect(plain.filter((object) => object.kind === 'Secret')).toEqual([]);
    expect(daemonConfig(plain).ingestTokenFile).toBeUndefined();

    const created = render('--set', 'ingestToken.create=true');
    const secret = only(created, 'Secret') as unknown as { metadata: { name: string }; data: Record<string, string> };
    expect(secret.metadata.name).toBe('fp-footprint-ingest-token');
    // 48 random letters and digits (Helm's randAlphaNum): about 285 bits.
    expect(Buffer.from(secret.data.token!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(Buffer.from((only(render('--set', 'ingestToken.create=true'), 'Secret') as unknown as typeof secret).data.token!, 'base64').toString()).not.toBe(
      Buffer.from(secret.data.token!, 'base64').toString(),
    );
    // Kept across upgrades: the template reads the Secret the cluster has (lookup; `helm template` has no cluster).
    expect(readFileSync(join(CHART, 'templates', 'ingest-token.yaml'), 'utf8')).toContain('lookup "v1" "Secret" .Release.Namespace $name');
    const mountedFrom = (objects: K8sObject[], secretName: string, key: string) => {
      const pod = podSpecOf(objects);
      expect(pod.volumes.find((volume) => volume.name === 'ingest-token')?.secret).toEqual({ secretName, items: [{ key, path: key }], defaultMode: 0o444 });
      expect(pod.containers[0]!.volumeMounts.find((mount) => mount.name === 'ingest-token')).toEqual({
        name: 'ingest-token',
        mountPath: '/etc/footprint-ingest-token',
        readOnly: true,
      });
      const config = parseConfig(daemonConfig(objects));
      expect(config.ingestTokenFile).toBe(`/etc/footprint-ingest-token/${key}`);
    };
    mountedFrom(created, 'fp-footprint-ingest-token', 'token');

    const existing = render('--set', 'ingestToken.existingSecret=team-token', '--set', 'ingestToken.key=bearer', '--set', 'ingestToken.create=true');
    expect(existing.filter((object) => object.kind === 'Secret')).toEqual([]);
    mountedFrom(existing, 'team-token', 'bearer');

    const twice = runHelm(['template', 'fp', CHART, '--set', 'ingestToken.create=true', '--set', 'config.ingestTokenFile=/run/token']);
    expect(twice.ok).toBe(false);
    expect(twice.output).toContain('config.ingestTokenFile and ingestToken.create/existingSecret both set the ingest token: use one');
  });

  it('rejects bad values through values.schema.json with a message naming the value', () => {
    // helm --set keeps fractions as strings; --set-json (or a values file) passes the number itself.
    const pue = runHelm(['template', 'fp', CHART, '--set-json', 'config.pue=0.5']);
    expect(pue.ok).toBe(false);
    expect(pue.output).toContain(
      "values don't meet the specifications of the schema(s) in the following chart(s):\nfootprint:\n- at '/config/pue': minimum: got 0.5, want 1",
    );

    const rapl = runHelm(['template', 'fp', CHART, '--set-string', 'rapl.enabled=yes']);
    expect(rapl.ok).toBe(false);
    expect(rapl.output).toContain("- at '/rapl/enabled': got string, want boolean");

    const unknownKey = runHelm(['template', 'fp', CHART, '--set', 'config.colour=blue']);
    expect(unknownKey.ok).toBe(false);
    expect(unknownKey.output).toContain("- at '/config': additional properties 'colour' not allowed");

    const both = runHelm(['template', 'fp', CHART, '--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=true']);
    expect(both.ok).toBe(false);
    expect(both.output).toMatch(/enable one/);
  });
});

describe('chart assets', () => {
  it.each(ASSETS.map((asset) => [asset.target.slice(REPO.length + 1), asset] as const))(
    '%s equals its source (run deploy/helm/sync-assets.ts)',
    (_name, { source, target, suffix }) => {
      const names = assetNames(source, suffix);
      expect(assetNames(target, suffix)).toEqual(names);
      for (const name of names) expect(readFileSync(join(target, name), 'utf8'), name).toBe(readFileSync(join(source, name), 'utf8'));
    },
  );
});
