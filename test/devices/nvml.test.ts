// NvmlSource against the C double of libnvidia-ml, loaded through the same koffi worker path as the
// real library: 8 boards, counters, power-only boards, lost and hung boards, MIG and process lists.
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { NvmlSource, type NvmlSourceOptions } from '../../src/devices/nvml.ts';
import type { CounterReading, DeviceFailure, SampleResult } from '../../src/devices/source.ts';
import { EnergyMeter } from '../../src/energy/meter.ts';
import { powerBoundWatts } from '../../src/energy/plausibility.ts';
import { fakeUuid, nvmlDouble, type FakeGpu, type FakeNvmlScript } from '../support/nvml-double.ts';

const GPU_COUNT = 8;
const ENERGY_CALL = 'nvmlDeviceGetTotalEnergyConsumption';
const PROCESSES_CALL = 'nvmlDeviceGetComputeRunningProcesses_v3';

function boards(customise: (index: number) => FakeGpu = () => ({})): FakeGpu[] {
  return Array.from({ length: GPU_COUNT }, (_, index) => ({
    name: `NVIDIA H100 80GB HBM3 #${index}`,
    energyMillijoules: 1_000_000 * (index + 1),
    powerMilliwatts: 300_000 + index,
    ...customise(index),
  }));
}

/** A pino logger whose records the test can read. */
function capturingLogger() {
  const records: { level: number; msg: string; deviceId?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}

const sources: NvmlSource[] = [];
function source(libraryPath: string, options: Partial<NvmlSourceOptions> = {}): NvmlSource {
  const created = new NvmlSource({ libraryPath, timeoutMs: 2000, logger: pino({ level: 'silent' }), ...options });
  sources.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(sources.splice(0).map((created) => created.close()));
});

function byDevice<T extends { deviceId: string }>(items: T[]): Map<string, T> {
  return new Map(items.map((item) => [item.deviceId, item]));
}

/** Reads until `done` holds; the worker restarts in the background, so a few ticks may pass first. */
async function readUntil(nvml: NvmlSource, startMs: number, done: (result: SampleResult) => boolean) {
  for (let tick = 0; tick < 60; tick++) {
    const result = await nvml.read(startMs + tick * 10);
    if (done(result)) return { result, nowMs: startMs + tick * 10 };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('condition never held');
}

describe('NvmlSource with the NVML double', () => {
  test('discovers 8 boards and passes the exact raw counter values of a scripted run', async () => {
    const script: FakeNvmlScript = { driverVersion: '550.90.07', gpus: boards() };
    const double = nvmlDouble(script);
    const nvml = source(double.libraryPath);

    const { devices, problems } = await nvml.discover();
    expect(problems).toEqual([]);
    expect(devices.map((device) => device.id)).toEqual(Array.from({ length: GPU_COUNT }, (_, i) => fakeUuid(i)));
    expect(devices[3]).toEqual({
      id: fakeUuid(3),
      type: 'gpu',
      name: 'NVIDIA H100 80GB HBM3 #3',
      vendor: 'nvidia',
      method: 'counter',
      hostRole: 'external',
      powerLimitWatts: 700,
      info: { driverVersion: '550.90.07', index: '3', migMode: 'disabled', library: double.libraryPath },
    });

    // Each board's counter advances by its own step; board 7 sits above 2^32 mJ and board 5 is reset
    // (driver reload) at tick 3: the source passes raw values, the energy stage makes them monotonic.
    const stepMillijoules = (index: number) => 250_000 + 1_000 * index;
    const counterAt = (index: number, tick: number) =>
      index === 7
        ? 2 ** 40 + tick * stepMillijoules(index)
        : index === 5 && tick >= 3
          ? (tick - 3) * stepMillijoules(index)
          : 1_000_000 * (index + 1) + tick * stepMillijoules(index);
    for (let tick = 0; tick < 5; tick++) {
      double.script({
        ...script,
        gpus: boards((index) => ({ energyMillijoules: counterAt(index, tick), powerMilliwatts: 300_000 + 1000 * tick + index })),
      });
      const nowMs = 10_000 + tick * 2000;
      const { readings, failures } = await nvml.read(nowMs);
      expect(failures).toEqual([]);
      expect(readings).toEqual(
        Array.from(
          { length: GPU_COUNT },
          (_, index): CounterReading => ({
            kind: 'counter',
            deviceId: fakeUuid(index),
            timeMs: nowMs,
            value: counterAt(index, tick),
            unitJoules: 1e-3,
            watts: (300_000 + 1000 * tick + index) / 1000,
          }),
        ),
      );
    }
  });

  test('through the energy stage: exact joules per board across a counter reset, power within 0.5%', async () => {
    // Board 0 has no counter: its power follows a sine the energy stage integrates from 2 s samples.
    const truthWatts = (seconds: number) => 300 + 100 * Math.sin(seconds / 10);
    const truthJoules = (seconds: number) => 300 * seconds - 1000 * (Math.cos(seconds / 10) - 1);
    const stepMillijoules = (index: number) => 400_000 + 10_000 * index;
    const counterAt = (index: number, tick: number) =>
      // Board 4's driver reloads before tick 6: its counter restarts from 0 and counts on.
      index === 4 && tick >= 6 ? (tick - 5) * stepMillijoules(index) : 5_000_000 + tick * stepMillijoules(index);
    const scriptAt = (tick: number): FakeNvmlScript => ({
      gpus: boards((index) =>
        index === 0 ? { energySupported: false, powerMilliwatts: Math.round(truthWatts(tick * 2) * 1000) } : { energyMillijoules: counterAt(index, tick) },
      ),
    });
    const double = nvmlDouble(scriptAt(0));
    const nvml = source(double.libraryPath);
    const bounds = new Map((await nvml.discover()).devices.map((device) => [device.id, powerBoundWatts(device)]));
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const joules = new Map<string, number>();
    const ticks = 30;
    for (let tick = 0; tick <= ticks; tick++) {
      double.script(scriptAt(tick));
      for (const reading of (await nvml.read(tick * 2000)).readings) {
        const { interval } = meter.add(reading, bounds.get(reading.deviceId)!);
        joules.set(reading.deviceId, (joules.get(reading.deviceId) ?? 0) + (interval?.energyJoules ?? 0));
      }
    }
    for (let index = 1; index < GPU_COUNT; index++) {
      // A reset loses nothing: the interval across it counts the energy since the restart.
      expect(joules.get(fakeUuid(index))).toBeCloseTo((ticks * stepMillijoules(index)) / 1000, 9);
    }
    const integrated = joules.get(fakeUuid(0))!;
    expect(Math.abs(integrated - truthJoules(ticks * 2)) / truthJoules(ticks * 2)).toBeLessThan(0.005);
  });

  test('a board without the energy counter is measured by exact power samples', async () => {
    const double = nvmlDouble({ gpus: boards((index) => (index === 3 ? { energySupported: false, powerMilliwatts: 123_456 } : {})) });
    const nvml = source(double.libraryPath);
    const { devices } = await nvml.discover();
    expect(devices.map((device) => device.method)).toEqual(['counter', 'counter', 'counter', 'power', 'counter', 'counter', 'counter', 'counter']);

    const { readings } = await nvml.read(5000);
    expect(byDevice(readings).get(fakeUuid(3))).toEqual({ kind: 'power', deviceId: fakeUuid(3), timeMs: 5000, watts: 123.456 });
    expect(readings.filter((reading) => reading.kind === 'counter')).toHaveLength(7);
  });

  test('a lost board leaves 7 serving, is skipped while it backs off, and recovers', async () => {
    const double = nvmlDouble({ gpus: boards() });
    const { logger, records } = capturingLogger();
    const nvml = source(double.libraryPath, { logger, backoff: { initialMs: 1000, maxMs: 8000 } });
    await nvml.discover();
    expect((await nvml.read(0)).readings).toHaveLength(8);

    double.script({ gpus: boards((index) => (index === 2 ? { lost: true } : {})) });
    const lost = await nvml.read(2000);
    expect(lost.readings.map((reading) => reading.deviceId)).not.toContain(fakeUuid(2));
    expect(lost.readings).toHaveLength(7);
    expect(lost.failures).toEqual([
      {
        deviceId: fakeUuid(2),
        errorType: 'gpu_lost',
        message: `${ENERGY_CALL}: GPU is lost`,
        fix: expect.stringContaining('Xid'),
      },
    ]);

    // Inside the backoff the board is not called again but stays reported as failed.
    const energyCalls = double.callCount(ENERGY_CALL);
    const skipped = await nvml.read(2500);
    expect(double.callCount(ENERGY_CALL) - energyCalls).toBe(7);
    expect(skipped.failures).toEqual([expect.objectContaining({ deviceId: fakeUuid(2), errorType: 'gpu_lost', retryAtMs: 3000 })]);

    // A retry that fails again doubles the wait (1 s, then 2 s).
    expect((await nvml.read(3000)).failures).toHaveLength(1);
    double.script({ gpus: boards() });
    expect((await nvml.read(4500)).failures[0]?.retryAtMs).toBe(5000);
    const recovered = await nvml.read(5000);
    expect(recovered.failures).toEqual([]);
    expect(recovered.readings).toHaveLength(8);

    // The source reports; the pipeline alone logs (test/pipeline.test.ts).
    expect(records.filter((record) => record.level >= 30)).toEqual([]);
  });

  test('a hanging call is bounded by timeoutMs; the other boards keep being read', async () => {
    const timeoutMs = 1000;
    const double = nvmlDouble({ gpus: boards() });
    const nvml = source(double.libraryPath, { timeoutMs, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await nvml.discover();
    double.script({ gpus: boards((index) => (index === 5 ? { hangs: { [ENERGY_CALL]: 4000 } } : {})) });

    const startedMs = performance.now();
    const hung = await nvml.read(0);
    expect(performance.now() - startedMs).toBeLessThan(timeoutMs + 1000);
    // Boards before the hung one answered; it and the ones queued behind it time out this tick.
    expect(hung.readings.map((reading) => reading.deviceId)).toEqual([0, 1, 2, 3, 4].map(fakeUuid));
    const failures = byDevice(hung.failures);
    expect(failures.get(fakeUuid(5))).toMatchObject({ errorType: 'timeout', message: expect.stringContaining(`${timeoutMs}ms`) });
    expect(failures.get(fakeUuid(6))).toMatchObject({ errorType: 'timeout', message: expect.stringContaining(`blocked on ${fakeUuid(5)}`) });

    // A fresh worker serves the seven while the hung board backs off.
    const { result } = await readUntil(nvml, 2000, (next) => next.readings.length === 7);
    expect(result.readings.map((reading) => reading.deviceId)).toEqual([0, 1, 2, 3, 4, 6, 7].map(fakeUuid));
    expect(result.failures).toEqual([expect.objectContaining({ deviceId: fakeUuid(5), errorType: 'timeout' } satisfies Partial<DeviceFailure>)]);

    double.script({ gpus: boards() });
    expect((await nvml.read(70_000)).readings).toHaveLength(8);
  });

  test('MIG on: the board is measured once and its instances are listed for attribution', async () => {
    const instances = ['MIG-11111111-1111-1111-1111-111111111111', 'MIG-22222222-2222-2222-2222-222222222222', 'MIG-33333333-3333-3333-3333-333333333333'];
    const double = nvmlDouble({ gpus: boards((index) => (index === 0 ? { mig: true, migInstances: instances } : {})) });
    const nvml = source(double.libraryPath);
    const { devices } = await nvml.discover();

    expect(devices).toHaveLength(GPU_COUNT);
    expect(devices[0]!.info).toMatchObject({ migMode: 'enabled', migInstances: instances.join(',') });
    // Attribution asks the source where an allocated id runs (GpuPartitions): instances, replicas, boards.
    expect(instances.map((uuid) => nvml.placeAllocation(uuid, 'nvidia.com/mig-3g.40gb'))).toEqual(instances.map(() => ({ boardId: fakeUuid(0), slices: 3 })));
    expect(nvml.placeAllocation(`${fakeUuid(1)}::2`, 'nvidia.com/gpu')).toEqual({ boardId: fakeUuid(1), slices: 1 });
    expect(nvml.placeAllocation(`MIG-GPU-${fakeUuid(2).slice(4)}/7/0`, 'nvidia.com/mig-1g.10gb')).toEqual({ boardId: fakeUuid(2), slices: 1 });
    expect(nvml.placeAllocation('MIG-44444444-4444-4444-4444-444444444444', 'nvidia.com/mig-1g.10gb')).toBeUndefined();
    expect(nvml.placeAllocation('0000:c1:00.0', 'amd.com/gpu')).toBeUndefined();
    const { readings } = await nvml.read(1000);
    expect(readings.filter((reading) => reading.deviceId === fakeUuid(0))).toEqual([expect.objectContaining({ kind: 'counter', value: 1_000_000 })]);
    expect(readings).toHaveLength(GPU_COUNT);
  });

  test('processes appear and leave', async () => {
    const script = (processes: Record<number, FakeGpu['processes']>): FakeNvmlScript => ({
      gpus: boards((index) => ({ processes: processes[index] ?? [] })),
    });
    const double = nvmlDouble(script({}));
    const nvml = source(double.libraryPath);
    await nvml.discover();
    expect(await nvml.processes()).toEqual([]);

    double.script(script({ 1: [{ pid: 4242, usedBytes: 2 ** 34 }], 4: [{ pid: 77, usedBytes: 1024 }, { pid: 78 }] }));
    expect(await nvml.processes()).toEqual([
      { deviceId: fakeUuid(1), pid: 4242, usedMemoryBytes: 2 ** 34 },
      { deviceId: fakeUuid(4), pid: 77, usedMemoryBytes: 1024 },
      // NVML_VALUE_NOT_AVAILABLE: the memory is unknown, not zero.
      { deviceId: fakeUuid(4), pid: 78 },
    ]);

    double.script(script({ 4: [{ pid: 78 }] }));
    expect(await nvml.processes()).toEqual([{ deviceId: fakeUuid(4), pid: 78 }]);
  });

  test('the process list follows the INSUFFICIENT_SIZE sizing protocol, including a race', async () => {
    const listed = Array.from({ length: 40 }, (_, i) => ({ pid: 1000 + i, usedBytes: i }));
    const double = nvmlDouble({ gpus: boards((index) => (index === 0 ? { processes: listed, processRace: 20 } : {})) });
    const nvml = source(double.libraryPath);
    await nvml.discover();

    const calls = double.callCount(PROCESSES_CALL);
    const insufficient = double.callCount(`${PROCESSES_CALL}:INSUFFICIENT_SIZE`);
    const processes = await nvml.processes();
    expect(processes).toHaveLength(60);
    expect(processes.slice(0, 40)).toEqual(listed.map(({ pid, usedBytes }) => ({ deviceId: fakeUuid(0), pid, usedMemoryBytes: usedBytes })));
    // Board 0: the sizing call answers 40; the fetch with headroom (50) meets 60 after the race and is told
    // so; the next fetch fits. The 7 empty boards answer the sizing call with SUCCESS.
    expect(double.callCount(`${PROCESSES_CALL}:INSUFFICIENT_SIZE`) - insufficient).toBe(2);
    expect(double.callCount(PROCESSES_CALL) - calls).toBe(3 + 7);
  });

  test('a board lost before discovery is a problem; the others are found', async () => {
    const double = nvmlDouble({ gpus: boards((index) => (index === 6 ? { lost: true } : {})) });
    const { devices, problems } = await source(double.libraryPath).discover();
    expect(devices).toHaveLength(7);
    expect(problems).toEqual([{ source: 'nvml', message: 'GPU 6 skipped: nvmlDeviceGetUUID: GPU is lost', fix: expect.stringContaining('Xid') }]);
  });

  test('a driver that does not initialise is a problem with the fix', async () => {
    const double = nvmlDouble({ initError: 9, gpus: boards() });
    const { devices, problems } = await source(double.libraryPath).discover();
    expect(devices).toEqual([]);
    expect(problems).toEqual([
      { source: 'nvml', message: 'NVML did not initialise: nvmlInit_v2: Driver Not Loaded', fix: expect.stringContaining('modprobe nvidia') },
    ]);
  });

  test('an absent library is one problem naming the fix, and reads are empty', async () => {
    const libraryPath = '/nonexistent/libnvidia-ml.so.1';
    const nvml = source(libraryPath);
    const { devices, problems } = await nvml.discover();
    expect(devices).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain(libraryPath);
    expect(problems[0]!.fix).toContain('--nvml-library PATH');
    expect(await nvml.read(0)).toEqual({ readings: [], failures: [] });
    expect(await nvml.processes()).toEqual([]);
  });
});
