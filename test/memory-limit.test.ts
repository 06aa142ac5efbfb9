// The default memory budget from the cgroup the daemon runs in, read from fixture trees laid out as
// the kernel lays out /proc/self/cgroup and /sys/fs/cgroup (v2 unified, v1 memory controller).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupMemoryLimitBytes, defaultMemoryLimit } from '../src/memory-limit.ts';

const MiB = 2 ** 20;

function root(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'footprint-cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('the default memoryLimit', () => {
  it('is half the limit of a container whose cgroup is the mount root (cgroup v2 namespace)', () => {
    const container = root({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/memory.max': '536870912\n' });
    expect(defaultMemoryLimit(container)).toEqual({ limitBytes: 256 * MiB, source: 'half the cgroup memory limit of 536870912 bytes' });
  });

  it('takes the tightest limit along the path: a systemd unit under a slice with a lower MemoryMax (cgroup v2)', () => {
    const host = root({
      'proc/self/cgroup': '0::/system.slice/footprint.service\n',
      'sys/fs/cgroup/system.slice/footprint.service/memory.max': 'max\n',
      'sys/fs/cgroup/system.slice/memory.max': '1073741824\n',
    });
    expect(cgroupMemoryLimitBytes(host)).toBe(1024 * MiB);
  });

  it('reads the v1 memory controller, where the container is the mount root and "no limit" is a huge number', () => {
    const docker = root({
      'proc/self/cgroup': '12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n',
      'sys/fs/cgroup/memory/memory.limit_in_bytes': '402653184\n',
    });
    expect(cgroupMemoryLimitBytes(docker)).toBe(384 * MiB);
    const unlimited = root({ 'proc/self/cgroup': '4:memory:/\n', 'sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' });
    expect(defaultMemoryLimit(unlimited)).toEqual({ limitBytes: 256 * MiB, source: 'default (no cgroup memory limit)' });
  });

  it('is 256 MiB where there is no cgroup to read (not Linux, or /proc not mounted)', () => {
    expect(defaultMemoryLimit(root({}))).toEqual({ limitBytes: 256 * MiB, source: 'default (no cgroup memory limit)' });
  });
});
