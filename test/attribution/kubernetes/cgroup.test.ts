import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCgroupPath, parseProcCgroup, podOfPid } from '../../../src/attribution/kubernetes/cgroup.ts';

const UID = '0d1c7a4e-8f3b-4c2a-9e61-5b7d2f9a1c34';
const SYSTEMD_UID = UID.replaceAll('-', '_');
const ID = 'a3f1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80';

describe('parseCgroupPath', () => {
  it.each([
    // systemd driver (cgroup v2 default on current distributions)
    [
      'containerd, systemd, burstable',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${SYSTEMD_UID}.slice/cri-containerd-${ID}.scope`,
      'Burstable',
      ID,
    ],
    [
      'containerd, systemd, besteffort',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${SYSTEMD_UID}.slice/cri-containerd-${ID}.scope`,
      'BestEffort',
      ID,
    ],
    ['containerd, systemd, guaranteed', `/kubepods.slice/kubepods-pod${SYSTEMD_UID}.slice/cri-containerd-${ID}.scope`, 'Guaranteed', ID],
    ['cri-o, systemd, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${SYSTEMD_UID}.slice/crio-${ID}.scope`, 'Burstable', ID],
    [
      'cri-o conmon, systemd',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${SYSTEMD_UID}.slice/crio-conmon-${ID}.scope`,
      'BestEffort',
      ID,
    ],
    ['docker, systemd, guaranteed', `/kubepods.slice/kubepods-pod${SYSTEMD_UID}.slice/docker-${ID}.scope`, 'Guaranteed', ID],
    // cgroupfs driver
    ['containerd, cgroupfs, burstable', `/kubepods/burstable/pod${UID}/${ID}`, 'Burstable', ID],
    ['docker, cgroupfs, besteffort', `/kubepods/besteffort/pod${UID}/${ID}`, 'BestEffort', ID],
    ['cgroupfs, guaranteed', `/kubepods/pod${UID}/${ID}`, 'Guaranteed', ID],
    // kind: the kubelet runs inside a node container with its own prefix
    [
      'kind, systemd',
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${SYSTEMD_UID}.slice/cri-containerd-${ID}.scope`,
      'BestEffort',
      ID,
    ],
    [
      'kind seen from the host',
      `/system.slice/docker-${ID}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${SYSTEMD_UID}.slice/cri-containerd-${ID}.scope`,
      'Guaranteed',
      ID,
    ],
    ['kind, cgroupfs', `/docker/${ID}/kubelet/kubepods/burstable/pod${UID}/${ID}`, 'Burstable', ID],
    // the pod-level cgroup itself
    ['pod slice without container', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${SYSTEMD_UID}.slice`, 'Burstable', undefined],
  ])('%s', (_name, path, qosClass, containerId) => {
    const pod = parseCgroupPath(path);
    expect(pod).toEqual({ podUid: UID, qosClass, ...(containerId ? { containerId } : {}) });
  });

  it.each([
    ['a system service', '/system.slice/containerd.service'],
    ['a user session', '/user.slice/user-1000.slice/session-3.scope'],
    ['the root', '/'],
    ['the kubepods slice itself', '/kubepods.slice/kubepods-burstable.slice'],
    ['a plain docker container', `/system.slice/docker-${ID}.scope`],
  ])('%s is not a pod', (_name, path) => {
    expect(parseCgroupPath(path)).toBeUndefined();
  });
});

describe('parseProcCgroup', () => {
  it('reads the unified line of cgroup v2', () => {
    const text = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${SYSTEMD_UID}.slice/cri-containerd-${ID}.scope\n`;
    expect(parseProcCgroup(text)).toEqual({ podUid: UID, containerId: ID, qosClass: 'BestEffort' });
  });

  it('reads cgroup v1 hierarchies, skipping lines that name no pod', () => {
    const text = [
      '12:rdma:/',
      `11:cpu,cpuacct:/kubepods/burstable/pod${UID}/${ID}`,
      `10:memory:/kubepods/burstable/pod${UID}/${ID}`,
      `1:name=systemd:/kubepods/burstable/pod${UID}/${ID}`,
      '0::/',
    ].join('\n');
    expect(parseProcCgroup(text)).toEqual({ podUid: UID, containerId: ID, qosClass: 'Burstable' });
  });

  it('returns undefined for a host process', () => {
    expect(parseProcCgroup('0::/system.slice/kubelet.service\n')).toBeUndefined();
  });
});

describe('podOfPid', () => {
  const roots: string[] = [];
  afterAll(async () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

  it('reads /proc/<pid>/cgroup under the host root, and gives undefined for a vanished process', async () => {
    const root = await mkdtemp(join(tmpdir(), 'footprint-cgroup-'));
    roots.push(root);
    await mkdir(join(root, 'proc', '4242'), { recursive: true });
    await writeFile(join(root, 'proc', '4242', 'cgroup'), `0::/kubepods/pod${UID}/${ID}\n`);
    expect(await podOfPid(root, 4242)).toEqual({ podUid: UID, containerId: ID, qosClass: 'Guaranteed' });
    expect(await podOfPid(root, 4243)).toBeUndefined();
  });
});
