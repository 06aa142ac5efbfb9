// End to end on fixtures: a node with 2 GPUs (NVML double) and one RAPL package, pods whose metadata a
// loopback API server serves and whose GPUs a fake kubelet allocates, CPU time in cgroup v2 cpu.stat.
// The daemon runs with `kubernetes: true`; /metrics and a real Prometheus show each pod's joules.
//
// Timing is the daemon's own. The test moves every counter in steps, written between two ticks, so
// each step lands in exactly one sample interval; the only quantity it cannot choose is that
// interval's length, which the daemon reports itself: the package's hw_power_watts is its joules
// divided by the interval, so a pod's CPU share is exactly (pod CPU s / (CPUs x interval s)) x joules.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podResourcesSocketPath } from '../../src/attribution/kubernetes/pod-resources.ts';
import { startFakeApiServer, type ApiPod, type FakeApiServer } from '../support/k8s-api-server.ts';
import { podWithDevices, startFakeKubelet, type FakeKubelet, type PodResources } from '../support/k8s-kubelet.ts';
import { fakeUuid, nvmlDouble, type FakeNvmlScript, type NvmlDouble } from '../support/nvml-double.ts';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { startPrometheus, type PromSample, type RunningPrometheus } from '../support/prom-server.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';
import { sampleValue, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';

const skip = skipWithoutPromBinaries('prometheus');

const NODE = 'gpu-node-1';
const CPUS = 4;
const INTERVAL_MS = 500;
/** A tick reads, attributes and publishes in a few milliseconds; after this it is surely done. */
const PUBLISH_MARGIN_MS = 60;
const GPUS = [fakeUuid(0), fakeUuid(1)];
const PACKAGE = 'rapl:package-0';
/** No RAPL DRAM zone in the fixture, so memory is estimated from MemTotal: constant power. */
const MEMORY = 'estimator:memory';
const RAPL_ZONE = 'intel-rapl:0';

interface TestPod {
  namespace: string;
  name: string;
  uid: string;
  model: string;
  job: string;
  /** The pod-level cgroup v2 directory, as the systemd driver names it for the pod's QoS class. */
  cgroup: string;
}

const systemdUid = (uid: string) => uid.replaceAll('-', '_');
const VLLM_UID = '11111111-aaaa-4aaa-8aaa-111111111111';
const FINETUNE_UID = '22222222-bbbb-4bbb-8bbb-222222222222';
const EVAL_UID = '33333333-cccc-4ccc-8ccc-333333333333';
const VLLM: TestPod = {
  namespace: 'serving',
  name: 'vllm-0',
  uid: VLLM_UID,
  model: 'llama-3-8b',
  job: 'chat',
  cgroup: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${systemdUid(VLLM_UID)}.slice`,
};
const FINETUNE: TestPod = {
  namespace: 'research',
  name: 'finetune-0',
  uid: FINETUNE_UID,
  model: 'bert-large',
  job: 'finetune',
  cgroup: `kubepods.slice/kubepods-pod${systemdUid(FINETUNE_UID)}.slice`,
};
const EVAL: TestPod = {
  namespace: 'research',
  name: 'eval-0',
  uid: EVAL_UID,
  model: 'bert-large',
  job: 'eval',
  cgroup: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${systemdUid(EVAL_UID)}.slice`,
};

function v1Pod(pod: TestPod): ApiPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: pod.namespace, name: pod.name, uid: pod.uid, labels: { 'footprint.dev/model': pod.model, 'footprint.dev/job': pod.job } },
    spec: { nodeName: NODE, containers: [{ name: 'main' }] },
  };
}

const owning = (pod: TestPod, gpu: string): PodResources => podWithDevices(pod.namespace, pod.name, 'nvidia.com/gpu', [gpu]);

/** The labels a pod's ml_energy_joules_total series carries on one device. */
const podLabels = (pod: TestPod, hwId: string) => ({
  k8s_namespace_name: pod.namespace,
  k8s_pod_name: pod.name,
  ml_model: pod.model,
  ml_job: pod.job,
  hw_id: hwId,
});

const selectorOf = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([label, text]) => `${label}="${text}"`)
    .join(',');

/** What one step adds: joules per GPU and on the package, CPU seconds per running pod. */
interface Step {
  gpuJoules: [number, number];
  packageJoules: number;
  cpuSeconds: Map<TestPod, number>;
}

const STEP_GPU_JOULES: [number, number] = [30, 70];
const STEP_PACKAGE_JOULES = 20;

function expectRelative(actual: number | undefined, expected: number, relative = 1e-9): void {
  expect(actual, `expected ${expected}`).toBeDefined();
  expect(Math.abs(actual! - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(relative * Math.abs(expected));
}

describe.skipIf(skip)('Kubernetes pods on a 2-GPU node, end to end', () => {
  let fixture: SysfsFixture;
  let double: NvmlDouble;
  let api: FakeApiServer;
  let kubelet: FakeKubelet;
  let daemon: TestDaemon;
  let prometheus: RunningPrometheus;
  /** The counters as last written: millijoules per GPU, microjoules of the package, µs of CPU per pod. */
  const gpuMillijoules = [1_000_000, 2_000_000];
  let packageMicrojoules = 5_000_000;
  const cpuMicroseconds = new Map<TestPod, number>();
  /** The joules each ml_energy_joules_total series should hold after the steps, by its selector. */
  const expected = new Map<string, number>();
  const credit = (labels: Record<string, string>, joules: number) => expected.set(selectorOf(labels), (expected.get(selectorOf(labels)) ?? 0) + joules);

  const gpuScript = (): FakeNvmlScript => ({
    driverVersion: '550.54.15',
    gpus: GPUS.map((uuid, index) => ({ uuid, name: 'NVIDIA H100 80GB HBM3', energyMillijoules: gpuMillijoules[index]!, powerMilliwatts: 300_000 })),
  });
  const writeCpuStat = (pod: TestPod) => {
    const usec = cpuMicroseconds.get(pod)!;
    fixture.writeFile(
      `sys/fs/cgroup/${pod.cgroup}/cpu.stat`,
      `usage_usec ${usec}\nuser_usec ${usec}\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0`,
    );
  };
  const startPod = (pod: TestPod) => {
    cpuMicroseconds.set(pod, 0);
    writeCpuStat(pod);
  };

  /** Applies a step to every counter in one synchronous turn; runStep makes that turn fall well between two ticks. */
  const write = (step: Step) => {
    step.cpuSeconds.forEach((seconds, pod) => {
      cpuMicroseconds.set(pod, cpuMicroseconds.get(pod)! + seconds * 1e6);
      writeCpuStat(pod);
    });
    packageMicrojoules += step.packageJoules * 1e6;
    fixture.setEnergy(RAPL_ZONE, packageMicrojoules);
    step.gpuJoules.forEach((joules, index) => {
      gpuMillijoules[index]! += joules * 1000;
    });
    double.script(gpuScript());
  };

  const gpuReads = () => double.callCount('nvmlDeviceGetTotalEnergyConsumption');
  /** Resolves once the daemon's next tick has read the GPUs and published: at most ~0.2 s into a 0.5 s interval. */
  const nextTick = async () => {
    const seen = gpuReads();
    await eventually(async () => (gpuReads() > seen ? true : undefined), 10_000, 'a daemon tick');
    await sleep(PUBLISH_MARGIN_MS);
  };

  /**
   * Writes one step between two ticks and checks its interval on /metrics: each GPU's joules all to its
   * owner; the package's and DRAM's split by the pods' CPU time, the rest to idle. Credits `expected`.
   */
  const runStep = async (owners: [TestPod, TestPod], step: Step) => {
    await nextTick();
    const readsBefore = gpuReads();
    const before = await daemon.scrape();
    write(step);
    await nextTick();
    const after = await daemon.scrape();
    // One tick in between: the step is one interval, and `after` reports that interval's power.
    expect(gpuReads() - readsBefore).toBe(GPUS.length);
    // A series not published yet has counted nothing.
    const delta = (name: string, labels: Record<string, string>) => (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);

    GPUS.forEach((gpu, index) => {
      expect(delta('hw_energy_joules_total', { hw_id: gpu })).toBe(step.gpuJoules[index]);
      expectRelative(delta('ml_energy_joules_total', podLabels(owners[index]!, gpu)), step.gpuJoules[index]!);
      credit(podLabels(owners[index]!, gpu), step.gpuJoules[index]!);
    });

    expect(delta('hw_energy_joules_total', { hw_id: PACKAGE })).toBeCloseTo(step.packageJoules, 9);
    const intervalSeconds = step.packageJoules / sampleValue(after, 'hw_power_watts', { hw_id: PACKAGE })!;
    // DRAM (estimated here, constant power) follows the same pods' CPU time over the same interval.
    for (const [hwId, deviceJoules] of [
      [PACKAGE, step.packageJoules],
      [MEMORY, delta('hw_energy_joules_total', { hw_id: MEMORY })],
    ] as const) {
      let podJoules = 0;
      for (const [pod, cpuSeconds] of step.cpuSeconds) {
        const joules = (cpuSeconds / (CPUS * intervalSeconds)) * deviceJoules;
        expectRelative(delta('ml_energy_joules_total', podLabels(pod, hwId)), joules);
        credit(podLabels(pod, hwId), joules);
        podJoules += joules;
      }
      expectRelative(delta('ml_energy_joules_total', { ml_phase: 'idle', hw_id: hwId }), deviceJoules - podJoules);
      // Between steps only DRAM draws power, all of it idle; the package's idle is all in the steps.
      if (hwId === PACKAGE) credit({ ml_phase: 'idle', hw_id: hwId }, deviceJoules - podJoules);
    }
  };

  beforeAll(async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', CPUS);
    fixture.writeFile('sys/devices/system/cpu/online', `0-${CPUS - 1}`);
    fixture.addRaplZone(RAPL_ZONE, { name: 'package-0', energyMicrojoules: packageMicrojoules });
    fixture.setMemTotal(8 * 1024 * 1024);
    fixture.writeFile('sys/fs/cgroup/cgroup.controllers', 'cpuset cpu io memory pids');
    // Not a pod: the walk must pass it by.
    fixture.writeFile('sys/fs/cgroup/system.slice/containerd.service/cpu.stat', 'usage_usec 987654321');
    startPod(VLLM);
    startPod(FINETUNE);
    double = nvmlDouble(gpuScript());

    api = await startFakeApiServer([v1Pod(VLLM), v1Pod(FINETUNE)]);
    kubelet = await startFakeKubelet(podResourcesSocketPath(fixture.root), [owning(VLLM, GPUS[0]!), owning(FINETUNE, GPUS[1]!)]);
    const kubeconfig = join(fixture.root, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    // The daemon reads $KUBECONFIG once, at start ($KUBECONFIG before ~/.kube/config and the in-cluster service account).
    const previous = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeconfig;
    try {
      daemon = await startTestDaemon({
        hostRoot: fixture.root,
        nvmlLibrary: double.libraryPath,
        kubernetes: true,
        nodeName: NODE,
        interval: `${INTERVAL_MS}ms`,
        // Each pod's own series, so the test can tell pods of one model apart.
        podSeries: true,
      });
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = previous;
    }
    prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${daemon.metricsPort}`], scrapeIntervalS: 0.5 });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await daemon?.close();
    await kubelet?.stop();
    await api?.close();
    fixture?.remove();
  });

  const baseStep = (pods: [TestPod, number][]): Step => ({ gpuJoules: STEP_GPU_JOULES, packageJoules: STEP_PACKAGE_JOULES, cpuSeconds: new Map(pods) });

  it('gives each GPU to its allocated pod and splits the package by CPU time', async () => {
    expect(daemon.discovery.devices.map((device) => device.id).sort()).toEqual([...GPUS, PACKAGE, MEMORY].sort());
    await runStep(
      [VLLM, FINETUNE],
      baseStep([
        [VLLM, 0.6],
        [FINETUNE, 0.2],
      ]),
    );
    await runStep(
      [VLLM, FINETUNE],
      baseStep([
        [VLLM, 0.1],
        [FINETUNE, 0.5],
      ]),
    );
  });

  it('keeps serving through a kubelet restart and follows the new allocations', async () => {
    await kubelet.stop();
    // The kubelet is gone: its last allocations still stand, and every device keeps being measured.
    await runStep(
      [VLLM, FINETUNE],
      baseStep([
        [VLLM, 0.3],
        [FINETUNE, 0.3],
      ]),
    );
    expect((await fetch(`${daemon.metricsUrl}/readyz`)).status).toBe(200);

    // While it was down, finetune-0 finished and eval-0 was scheduled onto its GPU.
    api.remove(v1Pod(FINETUNE));
    rmSync(fixture.path(`sys/fs/cgroup/${FINETUNE.cgroup}`), { recursive: true });
    cpuMicroseconds.delete(FINETUNE);
    startPod(EVAL);
    api.add(v1Pod(EVAL));
    kubelet = await startFakeKubelet(podResourcesSocketPath(fixture.root), [owning(VLLM, GPUS[0]!), owning(EVAL, GPUS[1]!)]);
    await eventually(async () => (kubelet.listCalls() > 0 ? true : undefined), 10_000, 'the daemon listing the new kubelet');
    await runStep(
      [VLLM, EVAL],
      baseStep([
        [VLLM, 0.6],
        [EVAL, 0.4],
      ]),
    );
  });

  it('stores exact per-pod joules in Prometheus, and every device conserves its energy', async () => {
    const steps = 4;
    const query = async (expr: string) => (await prometheus.query(expr)).result as PromSample[];
    const value = (samples: PromSample[]) => Number(samples[0]?.value?.[1]);
    // The counters stopped moving after the last step; wait for a scrape that has it.
    await eventually(
      async () => (value(await query(`ml_energy_joules_total{k8s_pod_name="${EVAL.name}",hw_id="${GPUS[1]}"}`)) === STEP_GPU_JOULES[1] ? true : undefined),
      20_000,
      'the last step scraped',
    );

    const hw = async (hwId: string) => value(await query(`hw_energy_joules_total{hw_id="${hwId}"}`));
    expect(await hw(GPUS[0]!)).toBe(steps * STEP_GPU_JOULES[0]);
    expect(await hw(GPUS[1]!)).toBe(steps * STEP_GPU_JOULES[1]);
    expectRelative(await hw(PACKAGE), steps * STEP_PACKAGE_JOULES);

    for (const [selector, joules] of expected) {
      const samples = await query(`ml_energy_joules_total{${selector}}`);
      expect(samples, selector).toHaveLength(1);
      expectRelative(value(samples), joules);
    }
    // Ownership held from the daemon's first interval (its first tick asks the kubelet before taking
    // baselines), so the pod that owned GPU 0 throughout has every joule the board counted.
    expectRelative(value(await query(`ml_energy_joules_total{${selectorOf(podLabels(VLLM, GPUS[0]!))}}`)), await hw(GPUS[0]!));

    const conservation = await query('sum by (hw_id) (ml_energy_joules_total) / sum by (hw_id) (hw_energy_joules_total)');
    expect(conservation.map((sample) => sample.metric.hw_id).sort()).toEqual([...GPUS, PACKAGE, MEMORY].sort());
    for (const sample of conservation) expectRelative(Number(sample.value![1]), 1, 1e-6);
  });
});
