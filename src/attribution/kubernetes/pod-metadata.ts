// Metadata of this node's pods (namespace, name, labels, annotations, owner) from the API server,
// watched through an informer restricted to `spec.nodeName=<node>`, so the daemon never polls the
// API server per sample and only sees its own node's pods (RBAC: pods get/list/watch).
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1Pod } from '@kubernetes/client-node';
import type { Workload } from '../activity.ts';

/** The label (or annotation) keys that name a pod's ml.model, ml.job and ml.phase. */
export interface WorkloadKeys {
  model: string;
  job: string;
  phase: string;
}

export const DEFAULT_WORKLOAD_KEYS: WorkloadKeys = {
  model: 'footprint.dev/model',
  job: 'footprint.dev/job',
  phase: 'footprint.dev/phase',
};

/** The workload controller a pod belongs to, after walking up the generated layers that the pod's own metadata reveals. */
export interface PodOwner {
  kind: string;
  name: string;
}

export interface PodInfo {
  uid: string;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** status.podIPs, empty for hostNetwork pods (their address is the node's, shared by many). */
  ips: string[];
  owner?: PodOwner;
  /** The attributes its activities carry. */
  workload: Workload;
}

const JOBSET_NAME_LABEL = 'jobset.sigs.k8s.io/jobset-name';
/** A static pod's cgroup is named after its config hash, which its mirror pod carries in this annotation. */
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
/** CronJob-created Jobs are named `<cronjob>-<scheduled minute>`; the run suffix would make one job per run. */
const CRONJOB_RUN_SUFFIX = /-\d{8,}$/;

function ownerOf(pod: V1Pod): PodOwner | undefined {
  const labels = pod.metadata?.labels ?? {};
  // A JobSet's pods are owned by generated Jobs (`<jobset>-<replicated job>-<index>`); the label names the JobSet.
  const jobSet = labels[JOBSET_NAME_LABEL];
  if (jobSet) return { kind: 'JobSet', name: jobSet };
  const controller = pod.metadata?.ownerReferences?.find((reference) => reference.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!controller) return undefined;
  const hash = labels['pod-template-hash'];
  // Only the Deployment controller sets pod-template-hash, and it names the ReplicaSet `<deployment>-<hash>`.
  if (controller.kind === 'ReplicaSet' && hash && controller.name.endsWith('-' + hash)) {
    return { kind: 'Deployment', name: controller.name.slice(0, -hash.length - 1) };
  }
  if (controller.kind === 'Job' && CRONJOB_RUN_SUFFIX.test(controller.name)) {
    return { kind: 'CronJob', name: controller.name.replace(CRONJOB_RUN_SUFFIX, '') };
  }
  return { kind: controller.kind, name: controller.name };
}

/** A pod's identity, owner and workload attributes; labels win over annotations, the owner names the job by default. */
export function podInfoOf(pod: V1Pod, keys: WorkloadKeys): PodInfo {
  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  const owner = ownerOf(pod);
  const pick = (key: string): string | undefined => labels[key] || annotations[key] || undefined;
  const workload: Workload = { namespace, pod: name, job: pick(keys.job) ?? owner?.name ?? name };
  const model = pick(keys.model);
  const phase = pick(keys.phase);
  if (model) workload.model = model;
  if (phase) workload.phase = phase;
  const ips = pod.spec?.hostNetwork ? [] : [...new Set([pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((entry) => entry.ip)].filter((ip): ip is string => !!ip))];
  return { uid: pod.metadata?.uid ?? '', namespace, name, labels, annotations, ips, ...(owner ? { owner } : {}), workload };
}

export interface PodMetadataOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  keys?: WorkloadKeys;
  /** Wait before listing again after the watch failed (API server down, 403). */
  retryMs?: number;
  onError?: (error: unknown) => void;
}

export class PodMetadataWatcher {
  private readonly informer: ListWatch<V1Pod>;
  private readonly keys: WorkloadKeys;
  private readonly retryMs: number;
  private readonly byUidIndex = new Map<string, PodInfo>();
  private readonly byNameIndex = new Map<string, PodInfo>();
  private readonly byIpIndex = new Map<string, PodInfo>();
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor({ kubeConfig, nodeName, keys = DEFAULT_WORKLOAD_KEYS, retryMs = 5000, onError }: PodMetadataOptions) {
    this.keys = keys;
    this.retryMs = retryMs;
    const fieldSelector = `spec.nodeName=${nodeName}`;
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(kubeConfig),
      () => core.listPodForAllNamespaces({ fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    this.informer.on('add', (pod) => this.put(pod));
    this.informer.on('update', (pod) => this.put(pod));
    this.informer.on('delete', (pod) => this.remove(pod));
    // ListWatch stops for good after an error; listing again from scratch is the informer's usual recovery.
    this.informer.on('error', (error) => {
      // close() aborts the watch request, which the informer reports as an error: that one is ours.
      if (this.stopped) return;
      onError?.(error);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.informer.start(), this.retryMs);
      this.retryTimer.unref();
    });
  }

  /** Lists the node's pods and starts watching; resolves once the first list has been applied (or failed). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.informer.start();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop();
  }

  byUid(uid: string): PodInfo | undefined {
    return this.byUidIndex.get(uid);
  }

  byName(namespace: string, name: string): PodInfo | undefined {
    return this.byNameIndex.get(`${namespace}/${name}`);
  }

  /** The pod with this IP on the node, as the Collector's k8sattributes processor finds a sender by its connection. */
  byIp(ip: string): PodInfo | undefined {
    return this.byIpIndex.get(ip);
  }

  private put(pod: V1Pod): void {
    const info = podInfoOf(pod, this.keys);
    const previous = this.byUidIndex.get(info.uid);
    for (const ip of previous?.ips ?? []) if (this.byIpIndex.get(ip)?.uid === info.uid) this.byIpIndex.delete(ip);
    for (const ip of info.ips) this.byIpIndex.set(ip, info);
    this.byUidIndex.set(info.uid, info);
    const mirrorUid = info.annotations[MIRROR_ANNOTATION];
    if (mirrorUid) this.byUidIndex.set(mirrorUid, info);
    this.byNameIndex.set(`${info.namespace}/${info.name}`, info);
  }

  private remove(pod: V1Pod): void {
    const info = podInfoOf(pod, this.keys);
    this.byUidIndex.delete(info.uid);
    this.byUidIndex.delete(info.annotations[MIRROR_ANNOTATION] ?? '');
    // A finished pod's IP may already belong to a new pod: remove only this pod's entries.
    for (const ip of info.ips) if (this.byIpIndex.get(ip)?.uid === info.uid) this.byIpIndex.delete(ip);
    // A pod recreated under the same name (StatefulSet) may already be indexed: keep the newer one.
    if (this.byNameIndex.get(`${info.namespace}/${info.name}`)?.uid === info.uid) {
      this.byNameIndex.delete(`${info.namespace}/${info.name}`);
    }
  }
}
