// 8 GPUs through the NVML double (loaded by the same koffi path as libnvidia-ml.so.1) plus two RAPL
// packages: doctor lists them, a real Prometheus stores their exact joules under their UUIDs, and a
// lost GPU is reported while the other seven keep serving.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fakeUuid, type FakeGpu } from '../support/nvml-double.ts';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { eventually } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const skip = skipWithoutPromBinaries('prometheus');
const BIN = new URL('../../bin/footprint.js', import.meta.url).pathname;

const boards = (energyMillijoules: (index: number) => number, lost?: number): FakeGpu[] =>
  Array.from({ length: 8 }, (_, index) => ({
    uuid: fakeUuid(index),
    name: 'NVIDIA H100 80GB HBM3',
    energyMillijoules: energyMillijoules(index),
    powerMilliwatts: 300_000,
    enforcedLimitMilliwatts: 700_000,
    lost: index === lost,
  }));

describe.skipIf(skip)('GPUs through the NVML double', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
      fixture.addRaplZone('intel-rapl:1', { name: 'package-1', energyMicrojoules: 1_000_000 });
      fixture.setMemTotal(8 * 1024 * 1024);
    },
    nvml: { driverVersion: '550.54.15', gpus: boards(() => 1_000_000) },
    prometheus: { scrapeIntervalS: 0.5 },
  });

  it('doctor lists 8 GPUs measured by their energy counter', () => {
    const double = suite.nvml!;
    const result = spawnSync(process.execPath, [BIN, 'doctor', '--host-root', suite.fixture.root, '--nvml-library', double.libraryPath], {
      encoding: 'utf8',
      env: { ...process.env, ...double.env },
      timeout: 60_000,
    });
    expect(result.status).toBe(0);
    const gpuLines = result.stdout.split('\n').filter((line) => line.startsWith('GPU-'));
    expect(gpuLines).toHaveLength(8);
    for (const line of gpuLines) expect(line).toMatch(/^GPU-\S+\s+gpu\s+nvidia\s+counter\s+external\s+NVIDIA H100 80GB HBM3$/);
  });

  it('publishes exact joules per UUID, the power limit, and survives a lost GPU', async () => {
    const { prometheus } = suite;
    const double = suite.nvml!;
    // Board i uses (i + 1) x 100 J.
    double.script({ driverVersion: '550.54.15', gpus: boards((index) => 1_000_000 + (index + 1) * 100_000) });
    const perGpu = async () => {
      const { result } = await prometheus.query('hw_energy_joules_total{hw_type="gpu"}');
      return Object.fromEntries((result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => [s.metric.hw_id, Number(s.value[1])]));
    };
    const joules = await eventually(
      async () => {
        const seen = await perGpu();
        return Object.keys(seen).length === 8 && seen[fakeUuid(7)] === 800 ? seen : undefined;
      },
      20_000,
      'all 8 GPUs scraped with their final joules',
    );
    expect(joules).toEqual(Object.fromEntries(Array.from({ length: 8 }, (_, index) => [fakeUuid(index), (index + 1) * 100])));
    const limit = await prometheus.query(`hw_power_limit_watts{hw_id="${fakeUuid(0)}"}`);
    expect(Number((limit.result as { value: [number, string] }[])[0]!.value[1])).toBe(700);

    double.script({ driverVersion: '550.54.15', gpus: boards((index) => 1_000_000 + (index + 1) * 200_000, 3) });
    const status = await eventually(
      async () => {
        const { result } = await prometheus.query('hw_status{hw_type="gpu",hw_state="ok"} == 1');
        const ok = (result as { metric: Record<string, string> }[]).map((s) => s.metric.hw_id);
        return ok.length === 7 ? ok : undefined;
      },
      20_000,
      'seven GPUs ok',
    );
    expect(status).not.toContain(fakeUuid(3));
    const after = await eventually(
      async () => {
        const seen = await perGpu();
        return seen[fakeUuid(7)] === 1600 ? seen : undefined;
      },
      20_000,
      'the other GPUs keep advancing',
    );
    expect(after[fakeUuid(3)]).toBe(400);
    const errors = await prometheus.query(`hw_errors_total{hw_id="${fakeUuid(3)}"}`);
    expect((errors.result as { metric: Record<string, string> }[])[0]!.metric.error_type).toBe('gpu_lost');
  });
});
