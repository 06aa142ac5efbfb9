// Builds the Kubernetes default attribution from config: pod metadata watched from the API server,
// GPU ownership from the kubelet's pod-resources socket, processes and MIG layout from the GPU
// sources. The daemon registers `provider` with the ledger and calls `refresh` each tick.
import type { Logger } from 'pino';
import type { Config } from '../../config.ts';
import { hostDevices } from '../../devices/host.ts';
import type { Activity } from '../activity.ts';
import type { SenderIdentity } from '../sender.ts';
import { normaliseAttributeValue } from '../workload-attributes.ts';
import { hasGpuPartitions, type Device, type DeviceProcess, type DeviceSource } from '../../devices/source.ts';
import { loadApiServer } from './api-client.ts';
import { PodActivityProvider } from './pod-activities.ts';
import { PodMetadataWatcher, type PodInfo } from './pod-metadata.ts';
import { PodResourcesClient, podResourcesSocketPath } from './pod-resources.ts';
import { POD_UID_KEY, confineToSender, senderPodOf } from './sender-pod.ts';

export interface KubernetesAttribution {
  provider: PodActivityProvider;
  /**
   * Confines a span or window sent from a pod (its senderKey is the pod's IP) to that pod, and gives
   * one from a known pod, naming no hw.id, that pod's GPUs.
   */
  place(activity: Activity): Activity;
  /**
   * The pod that sent a span: the one whose IP the export came from, which the span cannot
   * overrule; from an address that is no pod's (host network, the node) or a trusted forwarder's
   * pod, the one the resource names by `k8s.pod.uid`, else `k8s.namespace.name` + `k8s.pod.name`.
   */
  senderIdentity: SenderIdentity;
  refresh(nowMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startKubernetesAttribution(config: Config, devices: Device[], sources: DeviceSource[], logger: Logger): Promise<KubernetesAttribution> {
  if (!config.nodeName) throw new Error('kubernetes attribution needs the node name: set FOOTPRINT_NODE_NAME from the downward API (spec.nodeName)');
  const log = logger.child({ component: 'kubernetes' });
  const reported = new Set<string>();
  const reportOnce = (step: string, error: unknown) => {
    if (reported.has(step)) return;
    reported.add(step);
    log.warn({ step, err: error }, `kubernetes ${step}: ${(error as Error).message ?? error}; pods fall back to coarser attribution, retrying`);
  };

  const watcher = new PodMetadataWatcher({
    api: loadApiServer(),
    nodeName: config.nodeName,
    keys: { model: config.podLabelModel, job: config.podLabelJob, phase: config.podLabelPhase },
    onError: (error) => reportOnce('pod-metadata', error),
  });
  await watcher.start();
  const podResources = new PodResourcesClient({ socketPath: podResourcesSocketPath(config.hostRoot) });
  // Read from the live lists on each use: rediscovery adds sources (a GPU driver installed later) in place.
  // GPU sources that partition or share boards (NVIDIA MIG, time-slicing) resolve the plugin's device ids.
  const placeAllocation = (deviceId: string, resourceName: string) => {
    for (const source of sources.filter(hasGpuPartitions)) {
      const placement = source.placeAllocation(deviceId, resourceName);
      if (placement) return placement;
    }
    return undefined;
  };

  const provider = new PodActivityProvider({
    hostRoot: config.hostRoot,
    gpuDeviceIds: () => devices.filter((device) => device.type === 'gpu').map((device) => device.id),
    // The host's non-GPU devices (packages and DRAM, or psys) are split by CPU time; memory traffic tracks it.
    cpuDeviceIds: () =>
      hostDevices(devices)
        .filter((device) => device.type !== 'gpu')
        .map((device) => device.id),
    pods: watcher,
    allocations: () => podResources.list(),
    processes: async () => (await Promise.all(sources.map((source) => source.processes?.() ?? []))).flat() as DeviceProcess[],
    placeAllocation,
    retentionMs: config.attributionLag + 10 * config.interval,
    onError: (step, error) => reportOnce(step, error),
  });
  const forwarderNamespaces = new Set(config.trustedForwarderNamespaces);
  /** The pod at a peer address whose spans must count under it: not a trusted forwarder's. */
  const confiningPod = (peerAddress: string | undefined) => {
    const info = peerAddress === undefined ? undefined : watcher.byIp(peerAddress);
    return info && !forwarderNamespaces.has(info.namespace) ? info : undefined;
  };
  const senderPod = (info: PodInfo) => senderPodOf(info, (deviceId, namespace, pod) => provider.isAllocatedElsewhere(deviceId, namespace, pod));
  return {
    provider,
    place(sent) {
      const sender = confiningPod(sent.senderKey);
      const activity = sender ? confineToSender(sent, senderPod(sender)) : sent;
      const { namespace, pod } = activity.workload;
      if (activity.deviceIds !== undefined || !namespace || !pod) return activity;
      const deviceIds = provider.devicesOfPod(namespace, pod);
      // A pod's own spans with no GPU of the node's known to belong to anyone (no allocations, no GPU
      // processes): they run on every device, as without Kubernetes, rather than on none.
      if (!deviceIds || (sender && deviceIds.length === 0 && !provider.knowsGpuOwners())) return activity;
      return { ...activity, deviceIds };
    },
    senderIdentity(resource, peerAddress) {
      const sender = confiningPod(peerAddress);
      if (sender) return { model: sender.workload.model, pod: senderPod(sender) };
      // As the Collector's k8sattributes processor: the resource names the pod a forwarder speaks for.
      const text = (key: string) => normaliseAttributeValue(resource(key));
      const uid = text(POD_UID_KEY);
      const namespace = text('k8s.namespace.name');
      const name = text('k8s.pod.name');
      const pod =
        (uid && watcher.byUid(uid)) || (namespace && name && watcher.byName(namespace, name)) || (peerAddress ? watcher.byIp(peerAddress) : undefined);
      return pod ? { model: pod.workload.model } : undefined;
    },
    refresh: (nowMs) => provider.refresh(nowMs),
    async close() {
      await watcher.close();
      podResources.close();
    },
  };
}
