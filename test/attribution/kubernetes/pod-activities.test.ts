// Two pods on a node with two GPUs and one CPU package, from a fixture host root.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ApiPod } from '../../support/k8s-api-server.ts';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceProcess } from '../../../src/devices/source.ts';
import { PodActivityProvider, type PodActivitiesOptions, type PodLookup } from '../../../src/attribution/kubernetes/pod-activities.ts';
import { nvidiaPlacement } from '../../../src/devices/nvidia-ids.ts';
import { DEFAULT_WORKLOAD_KEYS, podInfoOf, type PodInfo } from '../../../src/attribution/kubernetes/pod-metadata.ts';
import type { DeviceAllocation } from '../../../src/attribution/kubernetes/pod-resources.ts';

const UID_A = '11111111-aaaa-4aaa-8aaa-111111111111';
const UID_B = '22222222-bbbb-4bbb-8bbb-222222222222';
const CONTAINER = 'c'.repeat(64);
const GiB = 1024 ** 3;
const POD_A_CGROUP = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_A.replaceAll('-', '_')}.slice`;
const POD_B_CGROUP = `kubepods.slice/kubepods-pod${UID_B.replaceAll('-', '_')}.slice`;

const VLLM = { namespace: 'serving', pod: 'vllm-0', model: 'llama-3-8b', job: 'vllm', phase: 'inference' };
const TRAINER = { namespace: 'research', pod: 'finetune-x7k2p', model: 'bert', job: 'finetune', phase: 'training' };

function podInfo(namespace: string, name: string, uid: string, labels: Record<string, string>, owner: [string, string]): PodInfo {
  const pod: ApiPod = {
    metadata: { namespace, name, uid, labels, ownerReferences: [{ apiVersion: 'v1', kind: owner[0], name: owner[1], uid: 'o', controller: true }] },
  };
  return podInfoOf(pod, DEFAULT_WORKLOAD_KEYS);
}

const infos = [
  podInfo('serving', 'vllm-0', UID_A, { 'footprint.dev/model': 'llama-3-8b', 'footprint.dev/phase': 'inference' }, ['StatefulSet', 'vllm']),
  podInfo('research', 'finetune-x7k2p', UID_B, { 'footprint.dev/model': 'bert', 'footprint.dev/phase': 'training' }, ['Job', 'finetune']),
];
const pods: PodLookup = {
  byUid: (uid) => infos.find((info) => info.uid === uid),
  byName: (namespace, name) => infos.find((info) => info.namespace === namespace && info.name === name),
};

let hostRoot: string;
const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(join(hostRoot, path)), { recursive: true });
  await writeFile(join(hostRoot, path), text);
}

/** Writes both pods' cumulative CPU time as cgroup v2 cpu.stat. */
async function cpuSeconds(a: number, b: number): Promise<void> {
  await put(`sys/fs/cgroup/${POD_A_CGROUP}/cpu.stat`, `usage_usec ${a * 1e6}\nuser_usec 0\nsystem_usec 0\n`);
  await put(`sys/fs/cgroup/${POD_B_CGROUP}/cpu.stat`, `usage_usec ${b * 1e6}\nuser_usec 0\nsystem_usec 0\n`);
}

beforeEach(async () => {
  hostRoot = await mkdtemp(join(tmpdir(), 'footprint-podact-'));
  roots.push(hostRoot);
  await put('sys/fs/cgroup/cgroup.controllers', 'cpu memory\n');
  await put('sys/devices/system/cpu/online', '0-3\n');
  await put('proc/100/cgroup', `0::/${POD_A_CGROUP}/cri-containerd-${CONTAINER}.scope\n`);
  await put('proc/200/cgroup', `0::/${POD_B_CGROUP}/cri-containerd-${CONTAINER}.scope\n`);
  await put('proc/300/cgroup', '0::/system.slice/nvidia-persistenced.service\n');
});

function provider(allocations: () => Promise<DeviceAllocation[]>, processes: DeviceProcess[], extra: Partial<PodActivitiesOptions> = {}) {
  return new PodActivityProvider({
    hostRoot,
    pods,
    gpuDeviceIds: () => ['GPU-0', 'GPU-1'],
    cpuDeviceIds: () => ['rapl:package-0'],
    allocations,
    processes: async () => processes,
    ...extra,
  });
}

const allocation = (namespace: string, pod: string, resourceName: string, deviceId: string): DeviceAllocation => ({
  namespace,
  pod,
  container: 'main',
  resourceName,
  deviceId,
});

describe('PodActivityProvider', () => {
  it('gives an allocated GPU to its pod, an unallocated one to the pods running on it by memory, and the CPU package by CPU time', async () => {
    const source = provider(
      async () => [allocation('serving', 'vllm-0', 'nvidia.com/gpu', 'GPU-0')],
      [
        { deviceId: 'GPU-0', pid: 100, usedMemoryBytes: 20 * GiB },
        { deviceId: 'GPU-1', pid: 100, usedMemoryBytes: 2 * GiB },
        { deviceId: 'GPU-1', pid: 200, usedMemoryBytes: 6 * GiB },
        // A host process on a GPU belongs to no pod: its share stays with the ledger's idle.
        { deviceId: 'GPU-1', pid: 300, usedMemoryBytes: 1 * GiB },
      ],
    );
    await cpuSeconds(10, 5);
    await source.refresh(0);
    await cpuSeconds(12, 5.5);
    await source.refresh(2000);

    expect(source.activitiesBetween(0, 2000)).toEqual([
      { source: 'pod', workload: VLLM, startMs: 0, endMs: 2000, deviceIds: ['GPU-0'], weight: 1 },
      { source: 'pod', workload: VLLM, startMs: 0, endMs: 2000, deviceIds: ['GPU-1'], weight: 2 * GiB },
      { source: 'pod', workload: TRAINER, startMs: 0, endMs: 2000, deviceIds: ['GPU-1'], weight: 6 * GiB },
      // 4 CPUs x 2 s = 8 CPU-seconds: vllm used 2 of them, the trainer 0.5.
      { source: 'pod', workload: VLLM, startMs: 0, endMs: 2000, deviceIds: ['rapl:package-0'], fraction: 0.25 },
      { source: 'pod', workload: TRAINER, startMs: 0, endMs: 2000, deviceIds: ['rapl:package-0'], fraction: 0.0625 },
    ]);
    // Half the interval: CPU time is interpolated between the samples.
    const half = source.activitiesBetween(1000, 2000).filter((activity) => activity.fraction !== undefined);
    expect(half.map((activity) => activity.fraction)).toEqual([0.25, 0.0625]);
  });

  it('tells which GPUs a known pod uses, so its spans without hw.id land there and not on every device', async () => {
    const source = provider(
      async () => [allocation('serving', 'vllm-0', 'nvidia.com/gpu', 'GPU-0')],
      [{ deviceId: 'GPU-1', pid: 200, usedMemoryBytes: 6 * GiB }],
    );
    await cpuSeconds(1, 1);
    await source.refresh(0);
    expect(source.devicesOfPod('serving', 'vllm-0')).toEqual(['GPU-0']);
    expect(source.devicesOfPod('research', 'finetune-x7k2p')).toEqual(['GPU-1']);
    expect(source.devicesOfPod('elsewhere', 'unknown-0')).toBeUndefined();
  });

  it("tells a board the kubelet allocated to another pod, which a pod's span may not name; a board run on by processes is anyone's", async () => {
    const source = provider(
      async () => [allocation('serving', 'vllm-0', 'nvidia.com/gpu', 'GPU-0')],
      [{ deviceId: 'GPU-1', pid: 200, usedMemoryBytes: 6 * GiB }],
    );
    expect(source.knowsGpuOwners()).toBe(false);
    await cpuSeconds(1, 1);
    await source.refresh(0);
    expect(source.knowsGpuOwners()).toBe(true);
    expect(source.isAllocatedElsewhere('GPU-0', 'serving', 'vllm-0')).toBe(false);
    expect(source.isAllocatedElsewhere('GPU-0', 'research', 'finetune-x7k2p')).toBe(true);
    expect(source.isAllocatedElsewhere('GPU-1', 'serving', 'vllm-0')).toBe(false);
    expect(source.isAllocatedElsewhere('rapl:package-0', 'research', 'finetune-x7k2p')).toBe(false);
  });

  it('splits a GPU equally among its pods when memory is not reported', async () => {
    const source = provider(
      async () => [],
      [
        { deviceId: 'GPU-1', pid: 100 },
        { deviceId: 'GPU-1', pid: 200 },
        { deviceId: 'GPU-1', pid: 200 },
      ],
    );
    await cpuSeconds(1, 1);
    await source.refresh(0);
    const gpu = source.activitiesBetween(0, 1000).filter((activity) => activity.deviceIds?.[0] === 'GPU-1');
    expect(gpu.map((activity) => [activity.workload.pod, activity.weight])).toEqual([
      ['vllm-0', 1],
      ['finetune-x7k2p', 1],
    ]);
  });

  it('maps MIG instances to their board weighted by compute slices, strips time-slicing replicas, and keeps allocations through a kubelet outage', async () => {
    let kubeletUp = true;
    const errors: string[] = [];
    const source = new PodActivityProvider({
      hostRoot,
      pods,
      gpuDeviceIds: () => ['GPU-0', 'GPU-1'],
      cpuDeviceIds: () => ['rapl:package-0'],
      // The NVML source's resolution (GpuPartitions), with the board of one R470+ instance known.
      placeAllocation: (deviceId, resourceName) => nvidiaPlacement(deviceId, resourceName, (uuid) => (uuid === 'MIG-aaaa' ? 'GPU-0' : undefined)),
      allocations: async () => {
        if (!kubeletUp) throw new Error('kubelet restarting');
        return [
          allocation('serving', 'vllm-0', 'nvidia.com/mig-3g.40gb', 'MIG-aaaa'),
          // The legacy MIG ID names its board itself.
          allocation('research', 'finetune-x7k2p', 'nvidia.com/mig-1g.10gb', 'MIG-GPU-0/7/0'),
          allocation('research', 'finetune-x7k2p', 'nvidia.com/gpu', 'GPU-1::3'),
        ];
      },
      onError: (step) => errors.push(step),
    });
    await source.refresh(0);
    kubeletUp = false;
    await source.refresh(1000);

    expect(source.activitiesBetween(0, 2000).map((activity) => [activity.workload.pod, activity.deviceIds, activity.weight, activity.endMs])).toEqual([
      ['vllm-0', ['GPU-0'], 3, 2000],
      ['finetune-x7k2p', ['GPU-0'], 1, 2000],
      ['finetune-x7k2p', ['GPU-1'], 1, 2000],
    ]);
    expect(errors).toEqual(['pod-resources']);
  });

  it('never hands out more than the whole package when counters read apart exceed the capacity', async () => {
    const source = new PodActivityProvider({ hostRoot, pods, cpuCount: 1, gpuDeviceIds: () => [], cpuDeviceIds: () => ['rapl:package-0'] });
    await cpuSeconds(0, 0);
    await source.refresh(0);
    await cpuSeconds(2, 1);
    await source.refresh(2000);
    await cpuSeconds(2, 1);
    await source.refresh(4000);
    expect(source.activitiesBetween(0, 2000).map((activity) => [activity.workload.pod, activity.fraction])).toEqual([
      ['vllm-0', 2 / 3],
      ['finetune-x7k2p', 1 / 3],
    ]);
    // Idle pods get no activity.
    expect(source.activitiesBetween(2000, 4000)).toEqual([]);
  });

  it('knows nothing before its first sample and attributes no CPU without metadata', async () => {
    const source = new PodActivityProvider({
      hostRoot,
      gpuDeviceIds: () => ['GPU-0'],
      cpuDeviceIds: () => ['rapl:package-0'],
      allocations: async () => [allocation('serving', 'vllm-0', 'nvidia.com/gpu', 'GPU-0')],
    });
    await cpuSeconds(1, 1);
    await source.refresh(5000);
    expect(source.activitiesBetween(0, 5000)).toEqual([]);
    expect(source.activitiesBetween(5000, 6000)).toEqual([
      { source: 'pod', workload: { namespace: 'serving', pod: 'vllm-0' }, startMs: 5000, endMs: 6000, deviceIds: ['GPU-0'], weight: 1 },
    ]);
  });
});
