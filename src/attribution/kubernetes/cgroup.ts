// /proc/<pid>/cgroup -> the Kubernetes pod (and container) a process belongs to.
// The kubelet names pod cgroups after the pod UID in every layout it supports:
//   systemd driver:  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/<runtime>-<id>.scope
//   cgroupfs driver: kubepods/burstable/pod<uid>/<id>
// Guaranteed pods sit directly under kubepods (no QoS level). The same names appear under cgroup v1
// (one line per hierarchy) and v2 (the single `0::` line), and nested below a prefix in kind nodes
// (`/kubelet.slice/kubelet-kubepods.slice/...`, `/system.slice/docker-<node>.scope/kubelet/kubepods/...`).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface CgroupPod {
  podUid: string;
  /** The container runtime's ID (64 hex), absent for the pod-level cgroup itself. */
  containerId?: string;
  qosClass: QosClass;
}

const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
/** `kubepods-besteffort-pod<uid>.slice` (systemd, optionally `kubelet-` prefixed in kind) or `pod<uid>` (cgroupfs). */
const POD_SEGMENT = new RegExp(`^(?:[\\w-]*kubepods(?:-(burstable|besteffort))?-)?pod(${UID})(?:\\.slice)?$`);
/** containerd `cri-containerd-<id>.scope`, CRI-O `crio-<id>.scope` / `crio-conmon-<id>.scope`, Docker `docker-<id>.scope`, cgroupfs bare `<id>`. */
const CONTAINER_SEGMENT = /^(?:(?:cri-containerd|crio(?:-conmon)?|docker)-)?([0-9a-f]{64})(?:\.scope)?$/;

/** The pod of one cgroup path (`/kubepods.slice/...`), or undefined when it is not a pod's cgroup. */
export function parseCgroupPath(path: string): CgroupPod | undefined {
  const segments = path.split('/').filter(Boolean);
  const podIndex = segments.findIndex((segment) => POD_SEGMENT.test(segment));
  if (podIndex < 0) return undefined;
  const podMatch = POD_SEGMENT.exec(segments[podIndex]!)!;
  const podUid = podMatch[2]!.replaceAll('_', '-');
  const containerId = CONTAINER_SEGMENT.exec(segments[podIndex + 1] ?? '')?.[1];
  return { podUid, qosClass: qosOf(podMatch[1], segments[podIndex - 1]), ...(containerId ? { containerId } : {}) };
}

function qosOf(systemdQos: string | undefined, parentSegment: string | undefined): QosClass {
  // systemd names carry the QoS in the pod slice; cgroupfs carries it as the parent directory.
  const name = systemdQos ?? parentSegment ?? '';
  if (/burstable/.test(name)) return 'Burstable';
  if (/besteffort/.test(name)) return 'BestEffort';
  return 'Guaranteed';
}

/**
 * The pod of a whole /proc/<pid>/cgroup file. v2's `0::` line wins; on v1 every hierarchy names the
 * same pod, so the first line that names one is taken.
 */
export function parseProcCgroup(text: string): CgroupPod | undefined {
  const lines = text.split('\n').filter(Boolean);
  // Each line is `hierarchy-id:controllers:path`; the path may itself contain ':' in theory, so split twice only.
  const paths = lines.map((line) => {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    return { unified: line.startsWith('0::'), path: line.slice(second + 1) };
  });
  paths.sort((a, b) => Number(b.unified) - Number(a.unified));
  for (const { path } of paths) {
    const pod = parseCgroupPath(path);
    if (pod) return pod;
  }
  return undefined;
}

/** Reads `<hostRoot>/proc/<pid>/cgroup`; undefined when the process is gone or not in a pod. */
export async function podOfPid(hostRoot: string, pid: number): Promise<CgroupPod | undefined> {
  try {
    return parseProcCgroup(await readFile(join(hostRoot, 'proc', String(pid), 'cgroup'), 'utf8'));
  } catch {
    // The process exited between the NVML process list and this read: nothing to attribute.
    return undefined;
  }
}
