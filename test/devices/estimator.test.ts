import { cpus, totalmem } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CCF_COEFFICIENTS,
  EstimatorSource,
  estimateCpuWatts,
  estimateMemoryWatts,
  parseMemTotalBytes,
  parseProcStat,
  utilisationBetween,
} from '../../src/devices/estimator.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

let fixture: SysfsFixture | undefined;
afterEach(() => fixture?.remove());

const GIB = 2 ** 30;

describe('estimator formulas', () => {
  it('CPU: cpus x (idle + (max - idle) x utilisation) with CCF per-vCPU watts', () => {
    expect(CCF_COEFFICIENTS).toEqual({ idleWattsPerCpu: 0.74, maxWattsPerCpu: 3.5, wattsPerGib: 0.392 });
    expect(estimateCpuWatts(4, 0, CCF_COEFFICIENTS)).toBe(2.96);
    expect(estimateCpuWatts(4, 0.25, CCF_COEFFICIENTS)).toBe(5.72);
    expect(estimateCpuWatts(4, 1, CCF_COEFFICIENTS)).toBe(14);
    expect(estimateCpuWatts(64, 0.5, { idleWattsPerCpu: 1, maxWattsPerCpu: 3, wattsPerGib: 0 })).toBe(128);
  });

  it('memory: GiB x 0.392 W/GiB', () => {
    expect(estimateMemoryWatts(16 * GIB, CCF_COEFFICIENTS)).toBe(6.272);
    expect(estimateMemoryWatts(512 * GIB, CCF_COEFFICIENTS)).toBe(200.704);
  });

  it('parses /proc/stat: busy excludes idle and iowait, guest time is not counted twice, CPUs are the cpuN lines', () => {
    const stat = 'cpu  100 20 30 800 50 5 5 10 40 0\ncpu0 50 10 15 400 25 2 3 5 20 0\ncpu1 50 10 15 400 25 3 2 5 20 0\nintr 1 2\n';
    expect(parseProcStat(stat)).toEqual({ busy: 170, total: 1020, cpuCount: 2 });
    expect(() => parseProcStat('intr 1\n')).toThrow('no aggregate cpu line');
  });

  it('utilisation is the busy share of the time between two samples, undefined when no time passed', () => {
    expect(utilisationBetween({ busy: 100, total: 1000, cpuCount: 2 }, { busy: 150, total: 1200, cpuCount: 2 })).toBe(0.25);
    expect(utilisationBetween({ busy: 100, total: 1000, cpuCount: 2 }, { busy: 100, total: 1000, cpuCount: 2 })).toBeUndefined();
  });

  it('reads MemTotal (KiB) from /proc/meminfo as bytes', () => {
    expect(parseMemTotalBytes('MemTotal:       16777216 kB\nMemFree: 1 kB\n')).toBe(16 * GIB);
    expect(() => parseMemTotalBytes('MemFree: 1 kB\n')).toThrow('no MemTotal');
  });
});

describe('EstimatorSource on a host root', () => {
  function fourCpuHost(): SysfsFixture {
    const tree = createSysfsFixture();
    tree.setCpuTimes(Array.from({ length: 4 }, () => ({ user: 100, system: 0, idle: 900 })));
    tree.setMemTotal(16 * 1024 * 1024);
    return tree;
  }

  it('describes model devices that are never mistaken for measured ones', async () => {
    fixture = fourCpuHost();
    const { devices, problems } = await new EstimatorSource({ hostRoot: fixture.root, classes: ['cpu', 'memory'] }).discover();
    expect(problems).toEqual([]);
    expect(devices).toEqual([
      {
        id: 'estimator:cpu',
        type: 'cpu',
        name: 'estimated cpu',
        vendor: 'footprint',
        method: 'model',
        hostRole: 'part',
        info: {
          formula: 'cpus x (idle + (max - idle) x utilisation)',
          cpus: '4',
          idleWattsPerCpu: '0.74',
          maxWattsPerCpu: '3.5',
          utilisationFrom: fixture.path('proc/stat'),
        },
      },
      {
        id: 'estimator:memory',
        type: 'memory',
        name: 'estimated memory',
        vendor: 'footprint',
        method: 'model',
        hostRole: 'part',
        info: { formula: 'GiB x W/GiB', memoryBytes: String(16 * GIB), wattsPerGib: '0.392', sizeFrom: fixture.path('proc/meminfo') },
      },
    ]);
  });

  it('estimates exact watts from /proc/stat deltas between samples and memory size', async () => {
    fixture = fourCpuHost();
    const source = new EstimatorSource({ hostRoot: fixture.root, classes: ['cpu', 'memory'] });
    await source.discover();

    // Since discovery each CPU spent 25 busy and 75 idle jiffies: 25 % utilisation.
    fixture.setCpuTimes(Array.from({ length: 4 }, () => ({ user: 120, system: 5, idle: 975 })));
    expect(await source.read(2000)).toEqual({
      readings: [
        { kind: 'power', deviceId: 'estimator:cpu', timeMs: 2000, watts: 5.72 },
        { kind: 'power', deviceId: 'estimator:memory', timeMs: 2000, watts: 6.272 },
      ],
      failures: [],
    });

    // Fully busy (iowait counts as idle): 100 %.
    fixture.setCpuTimes(Array.from({ length: 4 }, () => ({ user: 200, system: 45, idle: 975, iowait: 0 })));
    expect((await source.read(4000)).readings[0]).toEqual({ kind: 'power', deviceId: 'estimator:cpu', timeMs: 4000, watts: 14 });

    // No jiffy passed (interval shorter than the tick): the last utilisation holds instead of dropping to idle.
    expect((await source.read(4001)).readings[0]).toMatchObject({ watts: 14 });
  });

  it('applies configured coefficients', async () => {
    fixture = fourCpuHost();
    const source = new EstimatorSource({ hostRoot: fixture.root, classes: ['memory'], coefficients: { wattsPerGib: 0.5 } });
    expect((await source.discover()).devices.map((device) => device.id)).toEqual(['estimator:memory']);
    expect(await source.read(0)).toEqual({ readings: [{ kind: 'power', deviceId: 'estimator:memory', timeMs: 0, watts: 8 }], failures: [] });
  });

  it('takes injected inputs for exact tests', async () => {
    const samples = [
      { busy: 0, total: 0, cpuCount: 8 },
      { busy: 400, total: 1000, cpuCount: 8 },
    ];
    const source = new EstimatorSource({
      hostRoot: '/nonexistent',
      classes: ['cpu', 'memory'],
      readCpuTimes: async () => samples.shift()!,
      readMemoryBytes: async () => 64 * GIB,
    });
    await source.discover();
    const [cpu, memory] = (await source.read(1)).readings as { watts: number }[];
    // 8 x (0.74 + 2.76 x 0.4) = 14.752, up to binary rounding; 64 GiB x 0.392 = 25.088
    expect(cpu!.watts).toBeCloseTo(14.752, 12);
    expect(memory!.watts).toBe(25.088);
  });

  it('falls back to the process view of the CPUs and memory when the host root has no /proc', async () => {
    fixture = createSysfsFixture();
    const source = new EstimatorSource({ hostRoot: fixture.root, classes: ['cpu', 'memory'] });
    const { devices } = await source.discover();
    expect(devices[0]!.info).toMatchObject({ cpus: String(cpus().length), utilisationFrom: 'os.cpus()' });
    expect(devices[1]!.info).toMatchObject({ memoryBytes: String(totalmem()), sizeFrom: 'os.totalmem()' });
    const { readings, failures } = await source.read(1000);
    expect(failures).toEqual([]);
    expect(readings[1]).toEqual({ kind: 'power', deviceId: 'estimator:memory', timeMs: 1000, watts: estimateMemoryWatts(totalmem(), CCF_COEFFICIENTS) });
  });

  it('reports a /proc/stat that vanishes after discovery as a failure of the cpu estimate only', async () => {
    fixture = fourCpuHost();
    const source = new EstimatorSource({ hostRoot: fixture.root, classes: ['cpu', 'memory'] });
    await source.discover();
    fixture.removeFile('proc/stat');
    const { readings, failures } = await source.read(2000);
    expect(readings.map((reading) => reading.deviceId)).toEqual(['estimator:memory']);
    expect(failures).toEqual([expect.objectContaining({ deviceId: 'estimator:cpu', errorType: 'not_found' })]);
  });
});
