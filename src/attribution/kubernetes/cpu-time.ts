// Cumulative CPU time of every pod on the node, from the pod-level cgroup the kubelet creates:
// cgroup v2 `cpu.stat` usage_usec, cgroup v1 `cpuacct.usage` (nanoseconds). The pod cgroup covers
// all its containers, so one read per pod suffices.
import type { Dirent } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCgroupPath } from './cgroup.ts';

/** Deep enough for kind's nested layout (kubelet.slice/kubelet-kubepods.slice/<qos>.slice/<pod>.slice). */
const MAX_DEPTH = 6;
/**
 * Only the kubelet's own subtrees hold pods (`kubepods*`, kind's `kubelet*`, and the cgroupfs driver's
 * bare QoS directories); skipping the rest keeps the walk to a few directories.
 */
const KUBELET_DIR = /kubepods|kubelet|^burstable$|^besteffort$/;

interface Layout {
  root: string;
  /** Reads a pod directory's cumulative CPU seconds. */
  read(podDir: string): Promise<number>;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function layoutOf(hostRoot: string): Promise<Layout | undefined> {
  const base = join(hostRoot, 'sys', 'fs', 'cgroup');
  if (await exists(join(base, 'cgroup.controllers'))) {
    return { root: base, read: async (dir) => usageUsecOf(await readFile(join(dir, 'cpu.stat'), 'utf8')) / 1e6 };
  }
  for (const name of ['cpu,cpuacct', 'cpuacct,cpu', 'cpuacct']) {
    const root = join(base, name);
    if (await exists(root)) {
      return { root, read: async (dir) => Number((await readFile(join(dir, 'cpuacct.usage'), 'utf8')).trim()) / 1e9 };
    }
  }
  return undefined;
}

function usageUsecOf(cpuStat: string): number {
  const match = /^usage_usec (\d+)$/m.exec(cpuStat);
  if (!match) throw new Error('cpu.stat has no usage_usec line');
  return Number(match[1]);
}

async function podDirs(dir: string, depth: number, found: Map<string, string>): Promise<void> {
  if (depth > MAX_DEPTH) return;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    // A QoS or pod cgroup removed while walking: it has no pods left to read.
    return;
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const pod = parseCgroupPath(`/${entry.name}`);
    if (pod) found.set(pod.podUid, join(dir, entry.name));
    else if (KUBELET_DIR.test(entry.name)) await podDirs(join(dir, entry.name), depth + 1, found);
  }
}

/**
 * Pod UID -> cumulative CPU seconds for every pod cgroup under `<hostRoot>/sys/fs/cgroup`.
 * Empty when the node has no cgroup CPU accounting mounted (not a Kubernetes node).
 */
export async function readPodCpuSeconds(hostRoot: string): Promise<Map<string, number>> {
  const layout = await layoutOf(hostRoot);
  const usage = new Map<string, number>();
  if (!layout) return usage;
  const dirs = new Map<string, string>();
  await podDirs(layout.root, 0, dirs);
  await Promise.all(
    [...dirs].map(async ([podUid, dir]) => {
      try {
        usage.set(podUid, await layout.read(dir));
      } catch {
        // The pod ended between the walk and the read; its last interval is already counted.
      }
    }),
  );
  return usage;
}

/** Parses `/sys/devices/system/cpu/online` (`0-3,8-11`) into a count of online CPUs. */
export function countCpuList(list: string): number {
  return list
    .trim()
    .split(',')
    .filter(Boolean)
    .reduce((count, range) => {
      const [from, to = from] = range.split('-').map(Number);
      return count + (to! - from! + 1);
    }, 0);
}

/** Online CPUs of the host, read under --host-root so that fixture trees can set it; undefined when unreadable. */
export async function readOnlineCpuCount(hostRoot: string): Promise<number | undefined> {
  try {
    const count = countCpuList(await readFile(join(hostRoot, 'sys', 'devices', 'system', 'cpu', 'online'), 'utf8'));
    return count > 0 ? count : undefined;
  } catch {
    return undefined;
  }
}
