// The default of config `memoryLimit`: half the memory limit of the cgroup the daemon runs in (a
// container's limit, a systemd unit's MemoryMax), else 256 MiB. The other half is for what the
// cgroup charges beyond the daemon's RSS (page cache, socket buffers) and what arrives past the
// guard's soft limit, so the guard refuses ingest well before the kernel's OOM killer acts. At the
// chart's 512Mi this is 256 MiB, the bound the hardening tests assert.
//
// Read under the real root, not `hostRoot`: the limit is the daemon's own, not the node's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const FALLBACK_MEMORY_LIMIT_BYTES = 256 * 2 ** 20;
/** Share of the cgroup's limit the daemon budgets for itself. */
const CGROUP_LIMIT_SHARE = 0.5;
/** cgroup v1 writes "no limit" as the largest page-aligned 64-bit number; anything this large is none. */
const UNLIMITED_BYTES = 2 ** 60;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `/a/b` -> ['/a/b', '/a', '/']: a limit set on a parent cgroup (a pod, a slice) binds its children too. */
function selfAndAncestors(cgroupPath: string): string[] {
  const segments = cgroupPath.split('/').filter(Boolean);
  return Array.from({ length: segments.length + 1 }, (_, index) => `/${segments.slice(0, segments.length - index).join('/')}`);
}

/**
 * The tightest memory limit on this process's cgroup and its ancestors: v2 `memory.max`, v1
 * `memory.limit_in_bytes`, read at `<root>/sys/fs/cgroup` along the path in `<root>/proc/self/cgroup`.
 * In a container whose cgroup is the mount's root (a cgroup namespace, or Docker's v1 mounts) the
 * path is not found below the mount and its root holds the limit. Undefined when none is set.
 */
export function cgroupMemoryLimitBytes(root = '/'): number | undefined {
  const limits: number[] = [];
  for (const line of (readText(join(root, 'proc/self/cgroup')) ?? '').split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.+)$/.exec(line.trim()) ?? [];
    if (path === undefined) continue;
    const [directory, file] =
      controllers === ''
        ? ['sys/fs/cgroup', 'memory.max']
        : controllers!.split(',').includes('memory')
          ? ['sys/fs/cgroup/memory', 'memory.limit_in_bytes']
          : [];
    if (!directory) continue;
    for (const cgroup of selfAndAncestors(path)) {
      const bytes = Number(readText(join(root, directory, cgroup, file!))?.trim());
      if (Number.isFinite(bytes) && bytes > 0 && bytes < UNLIMITED_BYTES) limits.push(bytes);
    }
  }
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** The budget when `memoryLimit` is not set, and where it came from (for the start-up log). */
export function defaultMemoryLimit(root = '/'): { limitBytes: number; source: string } {
  const cgroupBytes = cgroupMemoryLimitBytes(root);
  if (cgroupBytes === undefined) return { limitBytes: FALLBACK_MEMORY_LIMIT_BYTES, source: 'default (no cgroup memory limit)' };
  return { limitBytes: Math.floor(CGROUP_LIMIT_SHARE * cgroupBytes), source: `half the cgroup memory limit of ${cgroupBytes} bytes` };
}
