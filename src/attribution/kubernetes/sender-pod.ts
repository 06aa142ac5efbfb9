// The pod an export came from, in Kubernetes mode, found by the connection's peer IP: the pod
// network gives each pod its address, which the pod cannot choose as it chooses its resource
// attributes. Its spans and windows count under it: naming another pod (k8s.pod.uid,
// k8s.namespace.name, k8s.pod.name) or another pod's GPU (hw.id) is overruled.
import type { Activity } from '../activity.ts';
import type { SenderPod } from '../sender.ts';
import { WORKLOAD_ATTRIBUTE_KEYS, normaliseAttributeValue, type AttributeLookup } from '../workload-attributes.ts';
import { MIRROR_ANNOTATION, type PodInfo } from './pod-metadata.ts';

/** The resource attribute the OTel Kubernetes detectors set to the pod's UID. */
export const POD_UID_KEY = 'k8s.pod.uid';

/** Whether the kubelet allocated a board to pods other than `namespace/pod` (PodActivityProvider.isAllocatedElsewhere). */
type AllocatedElsewhere = (deviceId: string, namespace: string, pod: string) => boolean;

export function senderPodOf(info: PodInfo, isAllocatedElsewhere: AllocatedElsewhere): SenderPod {
  // A static pod's containers know it by its config hash, which its mirror pod carries as an annotation.
  const uids = new Set([info.uid, info.annotations[MIRROR_ANNOTATION]].filter((uid) => uid !== undefined));
  const names = (key: string, own: string, lookup: AttributeLookup) => {
    const value = normaliseAttributeValue(lookup(key));
    return value !== undefined && value !== own;
  };
  return {
    namespace: info.namespace,
    name: info.name,
    claimsAnotherPod(sources) {
      for (const lookup of sources) {
        const uid = normaliseAttributeValue(lookup(POD_UID_KEY));
        if (uid !== undefined && !uids.has(uid)) return true;
        if (names(WORKLOAD_ATTRIBUTE_KEYS.namespace, info.namespace, lookup) || names(WORKLOAD_ATTRIBUTE_KEYS.pod, info.name, lookup)) return true;
      }
      return false;
    },
    namesForeignDevice: (deviceIds) => deviceIds?.some((id) => isAllocatedElsewhere(id, info.namespace, info.name)) ?? false,
  };
}

/**
 * A window (or span) activity as its sender pod may have it: under the pod's namespace and name,
 * and without device ids that name another pod's GPU (the pod's own are placed instead).
 */
export function confineToSender(activity: Activity, pod: SenderPod): Activity {
  const { workload, deviceIds } = activity;
  const foreignDevices = pod.namesForeignDevice(deviceIds);
  if (!foreignDevices && workload.namespace === pod.namespace && workload.pod === pod.name) return activity;
  const confined: Activity = { ...activity, workload: { ...workload, namespace: pod.namespace, pod: pod.name } };
  if (foreignDevices) delete confined.deviceIds;
  return confined;
}
