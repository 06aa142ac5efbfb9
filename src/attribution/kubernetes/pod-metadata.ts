// Metadata of this node's pods (namespace, name, labels, annotations, owner) from the API server,
// listed and watched with `fieldSelector=spec.nodeName=<node>`, so the daemon never polls the API
// server per sample and only sees its own node's pods (RBAC: pods list/watch). Only the compact
// PodInfo of each pod is kept, never the API objects.
import * as z from 'zod';
import type { Workload } from '../activity.ts';
import type { ApiServer } from './api-client.ts';
import { ListWatch } from './list-watch.ts';

/** The fields of a core/v1 Pod this file reads; parsing drops the rest of the object. */
const podSchema = z.object({
  metadata: z.object({
    uid: z.string(),
    namespace: z.string(),
    name: z.string(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    ownerReferences: z.array(z.object({ kind: z.string(), name: z.string(), controller: z.boolean().optional() })).optional(),
  }),
  spec: z.object({ hostNetwork: z.boolean().optional() }).optional(),
  status: z.object({ podIP: z.string().optional(), podIPs: z.array(z.object({ ip: z.string() })).optional() }).optional(),
});
export type Pod = z.infer<typeof podSchema>;

function parsePod(object: unknown): Pod {
  const parsed = podSchema.safeParse(object);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new Error(`kubernetes API: pod ${issue.path.join('.')}: ${issue.message}`);
}

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
interface PodOwner {
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
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
/** CronJob-created Jobs are named `<cronjob>-<scheduled minute>`; the run suffix would make one job per run. */
const CRONJOB_RUN_SUFFIX = /-\d{8,}$/;

function ownerOf(pod: Pod): PodOwner | undefined {
  const labels = pod.metadata.labels ?? {};
  // A JobSet's pods are owned by generated Jobs (`<jobset>-<replicated job>-<index>`); the label names the JobSet.
  const jobSet = labels[JOBSET_NAME_LABEL];
  if (jobSet) return { kind: 'JobSet', name: jobSet };
  const controller = pod.metadata.ownerReferences?.find((reference) => reference.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!controller) return undefined;
  const hash = labels['pod-template-hash'];
  // Only the Deployment controller sets pod-template-hash, and it names the ReplicaSet `<deployment>-<hash>`.
  if (controller.kind === 'ReplicaSet' && hash && controller.name.endsWith(`-${hash}`)) {
    return { kind: 'Deployment', name: controller.name.slice(0, -hash.length - 1) };
  }
  if (controller.kind === 'Job' && CRONJOB_RUN_SUFFIX.test(controller.name)) {
    return { kind: 'CronJob', name: controller.name.replace(CRONJOB_RUN_SUFFIX, '') };
  }
  return { kind: controller.kind, name: controller.name };
}

/** A pod's identity, owner and workload attributes; labels win over annotations, the owner names the job by default. */
export function podInfoOf(pod: Pod, keys: WorkloadKeys): PodInfo {
  const labels = pod.metadata.labels ?? {};
  const annotations = pod.metadata.annotations ?? {};
  const { namespace, name } = pod.metadata;
  const owner = ownerOf(pod);
  const pick = (key: string): string | undefined => labels[key] || annotations[key] || undefined;
  const workload: Workload = { namespace, pod: name, job: pick(keys.job) ?? owner?.name ?? name };
  const model = pick(keys.model);
  const phase = pick(keys.phase);
  if (model) workload.model = model;
  if (phase) workload.phase = phase;
  const ips = pod.spec?.hostNetwork
    ? []
    : [...new Set([pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((entry) => entry.ip)].filter((ip): ip is string => !!ip))];
  return { uid: pod.metadata.uid, namespace, name, labels, annotations, ips, ...(owner ? { owner } : {}), workload };
}

export interface PodMetadataOptions {
  api: ApiServer;
  nodeName: string;
  keys?: WorkloadKeys;
  /** First wait before listing again after a failure (API server down, 403); doubles up to a minute. */
  retryMs?: number;
  onError?: (error: unknown) => void;
}

export class PodMetadataWatcher {
  readonly #listWatch: ListWatch<Pod>;
  readonly #keys: WorkloadKeys;
  readonly #byUidIndex = new Map<string, PodInfo>();
  readonly #byNameIndex = new Map<string, PodInfo>();
  readonly #byIpIndex = new Map<string, PodInfo>();

  constructor({ api, nodeName, keys = DEFAULT_WORKLOAD_KEYS, retryMs = 5000, onError = () => {} }: PodMetadataOptions) {
    this.#keys = keys;
    this.#listWatch = new ListWatch<Pod>({
      api,
      path: '/api/v1/pods',
      fieldSelector: `spec.nodeName=${nodeName}`,
      parse: parsePod,
      handlers: {
        replace: (pods) => this.#replace(pods),
        put: (pod) => this.#put(podInfoOf(pod, this.#keys)),
        remove: (pod) => this.#remove(podInfoOf(pod, this.#keys)),
      },
      retryMs,
      onError,
    });
  }

  /** Lists the node's pods and starts watching; resolves once the first list has been applied (or failed). */
  async start(): Promise<void> {
    await this.#listWatch.start();
  }

  async close(): Promise<void> {
    await this.#listWatch.close();
  }

  byUid(uid: string): PodInfo | undefined {
    return this.#byUidIndex.get(uid);
  }

  byName(namespace: string, name: string): PodInfo | undefined {
    return this.#byNameIndex.get(`${namespace}/${name}`);
  }

  /** The pod with this IP on the node, as the Collector's k8sattributes processor finds a sender by its connection. */
  byIp(ip: string): PodInfo | undefined {
    return this.#byIpIndex.get(ip);
  }

  /** A fresh list: pods missing from it were deleted while no watch was open. */
  #replace(pods: Pod[]): void {
    const infos = pods.map((pod) => podInfoOf(pod, this.#keys));
    const listed = new Set(infos.map((info) => info.uid));
    for (const [uid, info] of this.#byUidIndex) if (uid === info.uid && !listed.has(uid)) this.#remove(info);
    for (const info of infos) this.#put(info);
  }

  #put(info: PodInfo): void {
    const previous = this.#byUidIndex.get(info.uid);
    for (const ip of previous?.ips ?? []) if (this.#byIpIndex.get(ip)?.uid === info.uid) this.#byIpIndex.delete(ip);
    for (const ip of info.ips) this.#byIpIndex.set(ip, info);
    this.#byUidIndex.set(info.uid, info);
    const mirrorUid = info.annotations[MIRROR_ANNOTATION];
    if (mirrorUid) this.#byUidIndex.set(mirrorUid, info);
    this.#byNameIndex.set(`${info.namespace}/${info.name}`, info);
  }

  #remove(info: PodInfo): void {
    this.#byUidIndex.delete(info.uid);
    this.#byUidIndex.delete(info.annotations[MIRROR_ANNOTATION] ?? '');
    // A finished pod's IP may already belong to a new pod: remove only this pod's entries.
    for (const ip of info.ips) if (this.#byIpIndex.get(ip)?.uid === info.uid) this.#byIpIndex.delete(ip);
    // A pod recreated under the same name (StatefulSet) may already be indexed: keep the newer one.
    if (this.#byNameIndex.get(`${info.namespace}/${info.name}`)?.uid === info.uid) {
      this.#byNameIndex.delete(`${info.namespace}/${info.name}`);
    }
  }
}
