import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countCpuList, readOnlineCpuCount, readPodCpuSeconds } from '../../../src/attribution/kubernetes/cpu-time.ts';

const UID_A = '11111111-aaaa-4aaa-8aaa-111111111111';
const UID_B = '22222222-bbbb-4bbb-8bbb-222222222222';
const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'footprint-cpu-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

describe('readPodCpuSeconds', () => {
  it('reads cgroup v2 cpu.stat of pod slices (systemd driver, kind nesting)', async () => {
    const root = await tree({
      'sys/fs/cgroup/cgroup.controllers': 'cpu\n',
      [`sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_A.replaceAll('-', '_')}.slice/cpu.stat`]: 'usage_usec 1500000\n',
      [`sys/fs/cgroup/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${UID_B.replaceAll('-', '_')}.slice/cpu.stat`]: 'usage_usec 250000\n',
      'sys/fs/cgroup/system.slice/containerd.service/cpu.stat': 'usage_usec 99000000\n',
    });
    expect(await readPodCpuSeconds(root)).toEqual(
      new Map([
        [UID_A, 1.5],
        [UID_B, 0.25],
      ]),
    );
  });

  it('reads cgroup v1 cpuacct.usage (nanoseconds) of pod directories (cgroupfs driver)', async () => {
    const root = await tree({
      [`sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod${UID_A}/cpuacct.usage`]: '3000000000\n',
      [`sys/fs/cgroup/cpu,cpuacct/kubepods/pod${UID_B}/cpuacct.usage`]: '500000000\n',
    });
    expect(await readPodCpuSeconds(root)).toEqual(
      new Map([
        [UID_A, 3],
        [UID_B, 0.5],
      ]),
    );
  });

  it('is empty without cgroup CPU accounting', async () => {
    expect(await readPodCpuSeconds(await tree({ 'sys/fs/cgroup/.keep': '' }))).toEqual(new Map());
  });
});

describe('online CPUs', () => {
  it.each([
    ['0', 1],
    ['0-3', 4],
    ['0-3,8-11\n', 8],
    ['0,2,4-5', 4],
  ])('%j is %d CPUs', (list, count) => expect(countCpuList(list)).toBe(count));

  it('is undefined when the file is missing', async () => {
    expect(await readOnlineCpuCount(await tree({}))).toBeUndefined();
  });
});
