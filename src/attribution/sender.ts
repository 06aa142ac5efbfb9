// Who sent spans, as a pod-aware resolver (Kubernetes mode) finds them from the export's peer
// address and resource: the ingest reads this, the Kubernetes attribution implements it.
import type { AttributeLookup } from './workload-attributes.ts';

/** The pod an export came from (Kubernetes mode): its spans count under it, whatever they claim. */
export interface SenderPod {
  namespace: string;
  name: string;
  /** Whether the sources name another pod (`k8s.pod.uid`, `k8s.namespace.name`, `k8s.pod.name`). */
  claimsAnotherPod(sources: readonly AttributeLookup[]): boolean;
  /** Whether device ids (`hw.id`) name a GPU the kubelet allocated to another pod. */
  namesForeignDevice(deviceIds: readonly string[] | undefined): boolean;
}

/** Who sent a resource's spans, as a pod-aware resolver (Kubernetes mode) finds them. */
export interface Sender {
  /** The sending pod's model label, tried before `service.name`. */
  model: string | undefined;
  /** Set when the export's peer IP is a pod of the node (not a trusted forwarder): the identity spans cannot change. */
  pod?: SenderPod;
}

export type SenderIdentity = (resource: AttributeLookup, peerAddress: string | undefined) => Sender | undefined;
