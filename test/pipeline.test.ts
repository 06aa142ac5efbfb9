// The pipeline as the one owner of device failures and of plausibility: real RAPL and amdgpu sources
// over the sysfs fixture, the real NVML source over the NVML double, and the real energy, ledger,
// carbon and telemetry stages, ticked by hand.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createCarbonAccountant } from '../src/carbon/create-accountant.ts';
import { Ledger } from '../src/attribution/ledger.ts';
import { parseConfig } from '../src/config.ts';
import { createDeviceSources, discoverAll, type DeviceInventory } from '../src/devices/registry.ts';
import { EnergyMeter } from '../src/energy/meter.ts';
import { Pipeline } from '../src/pipeline.ts';
import { METRICS } from '../src/telemetry/contract.ts';
import { Publisher } from '../src/telemetry/publisher.ts';
import { SeriesStore } from '../src/telemetry/series-store.ts';
import { fakeUuid, nvmlDouble, type FakeGpu, type NvmlDouble } from './support/nvml-double.ts';
import { createSysfsFixture, type SysfsFixture } from './support/sysfs-fixture.ts';

const AMD_ID = '5d1a4b2c7e9f0123';
const PACKAGE = 'rapl:package-0';
const SOCKET = 'hwmon:amd_energy@amd_energy.0:energy1';
const [GPU0, GPU1] = [fakeUuid(0), fakeUuid(1)];

interface Rig {
  fixture: SysfsFixture;
  double: NvmlDouble;
  inventory: DeviceInventory;
  pipeline: Pipeline;
  store: SeriesStore;
  logs: { level: number; msg: string; hwId?: string }[];
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    await Promise.all(rig.inventory.sources.map((source) => source.close?.()));
    rig.fixture.remove();
  }
});

/** Two H100s (700 W enforced limit), a 250 W RAPL package with its DRAM, an amd_energy socket sensor and an MI300X, both without a cap. */
async function rig(gpus: FakeGpu[]): Promise<Rig> {
  const fixture = createSysfsFixture();
  fixture.setCpuVendor('GenuineIntel');
  fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 100_000_000_000, powerLimitMicrowatts: 250_000_000 });
  fixture.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 1_000_000 });
  // amd_energy's 64-bit socket counter (µJ, no range), 1 MJ since boot.
  fixture.addHwmon('hwmon1', { name: 'amd_energy', device: 'amd_energy.0', files: { energy1_input: 1_000_000_000_000, energy1_label: 'Esocket0' } });
  fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: 300_000_000, uniqueId: AMD_ID, productName: 'AMD Instinct MI300X' });
  const double = nvmlDouble({ gpus });
  const logs: Rig['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const config = parseConfig({ hostRoot: fixture.root, nvmlLibrary: double.libraryPath });
  const inventory = await discoverAll(createDeviceSources(config, pino({ level: 'silent' })), { hostRoot: fixture.root, logger: pino({ level: 'silent' }) });
  const store = new SeriesStore({ idleTimeoutMs: 600_000, cardinalityLimit: 2000, cardinalityLimitBytes: 1024 * 1024 });
  const accountant = createCarbonAccountant(config, pino({ level: 'silent' }));
  const pipeline = new Pipeline({
    sources: inventory.sources,
    devices: inventory.devices,
    owners: inventory.owners,
    meter: new EnergyMeter({ maxGapMs: 10_000 }),
    ledger: new Ledger({ lagMs: 0, horizonMs: 0, providers: [] }),
    accountant,
    publisher: new Publisher(store, accountant.currency, false, config),
    store,
    logger,
  });
  const created = { fixture, double, inventory, pipeline, store, logs };
  rigs.push(created);
  return created;
}

const gpu = (energyMillijoules: number, extra: Partial<FakeGpu> = {}): FakeGpu => ({
  energyMillijoules,
  powerMilliwatts: 300_000,
  enforcedLimitMilliwatts: 700_000,
  ...extra,
});

function value(store: SeriesStore, spec: (typeof METRICS)[keyof typeof METRICS], match: Record<string, string>): number | undefined {
  return store.points(spec).find((point) => Object.entries(match).every(([key, wanted]) => point.attributes[key] === wanted))?.value;
}

const failedIds = (store: SeriesStore) =>
  store
    .points(METRICS.hwStatus)
    .filter((point) => point.attributes['hw.state'] === 'failed' && point.value === 1)
    .map((point) => point.attributes['hw.id'])
    .sort();

describe('Pipeline', () => {
  it('adds no joules for implausible readings of RAPL, hwmon, NVML and amdgpu: 1 J back-steps, 1e15 uJ jumps, a value above the range, a 5 kW sample', async () => {
    const { fixture, double, pipeline, store } = await rig([gpu(1_000_000), gpu(1_000_000)]);
    // Truth: the package at 100 W, the H100s at 300 W, the MI300X at 300 W, read every second.
    const raplTruth = (second: number) => 100_000_000_000 + second * 100_000_000;
    // NVML's counter runs since the driver loaded: 5 MJ is about 5 hours at 300 W.
    const gpuTruth = (second: number) => 5_000_000_000 + second * 300_000;
    const raplGlitch = new Map([
      [2, raplTruth(1) - 1_000_000],
      [4, raplTruth(4) + 1e15],
      [6, 262_143_328_850 + 1],
    ]);
    const gpuGlitch = new Map([
      [3, gpuTruth(2) - 1_000],
      [5, gpuTruth(5) + 1e12],
    ]);
    const socketTruth = (second: number) => 1_000_000_000_000 + second * 100_000_000;
    const socketGlitch = new Map([
      [3, socketTruth(2) - 1_000_000],
      [5, socketTruth(5) + 1e15],
    ]);
    const bounds = { [PACKAGE]: 750, [GPU0]: 2100, [AMD_ID]: 3000, [SOCKET]: 1000 };
    for (let second = 0; second <= 8; second++) {
      fixture.setEnergy('intel-rapl:0', raplGlitch.get(second) ?? raplTruth(second));
      double.script({ gpus: [gpu(gpuGlitch.get(second) ?? gpuTruth(second)), gpu(gpuTruth(second))] });
      fixture.setHwmonValue('hwmon1', 'energy1_input', socketGlitch.get(second) ?? socketTruth(second));
      fixture.writeFile('sys/devices/pci0000:00/0000:c1:00.0/hwmon/hwmon0/power1_average', second === 4 ? 5_000_000_000 : 300_000_000);
      await pipeline.tick(second * 1000);
      for (const [id, bound] of Object.entries(bounds)) expect(value(store, METRICS.hwPower, { 'hw.id': id })).toBeLessThanOrEqual(bound);
    }
    const energy = (id: string) => value(store, METRICS.hwEnergy, { 'hw.id': id });
    expect(energy(PACKAGE)).toBeCloseTo(800, 6);
    expect(energy(GPU0)).toBeCloseTo(2400, 6);
    expect(energy(GPU1)).toBeCloseTo(2400, 6);
    expect(energy(AMD_ID)).toBeCloseTo(2400, 6);
    expect(energy(SOCKET)).toBeCloseTo(800, 6);
    const implausible = (id: string) => value(store, METRICS.hwErrors, { 'hw.id': id, 'error.type': 'implausible' });
    expect([implausible(PACKAGE), implausible(GPU0), implausible(GPU1), implausible(AMD_ID), implausible(SOCKET)]).toEqual([3, 2, undefined, 1, 2]);
    // hw.host.* (package + DRAM + both GPU kinds) took the same bridged joules.
    expect(value(store, METRICS.hostEnergy, {})).toBeCloseTo(800 + 3 * 2400, 6);
  });

  it('logs a failing NVML board once per transition and counts failed reads, not ticks while it backs off', async () => {
    const { double, pipeline, store, logs } = await rig([gpu(1_000_000), gpu(1_000_000)]);
    await pipeline.tick(0);
    double.script({ gpus: [gpu(1_000_000), gpu(1_000_000, { lost: true })] });
    // The default backoff (2 s, doubling): reads at 1 s, 3 s and 7 s fail; the ticks between are skipped.
    for (let second = 1; second <= 10; second++) await pipeline.tick(second * 1000);
    expect(value(store, METRICS.hwErrors, { 'hw.id': GPU1, 'error.type': 'gpu_lost' })).toBe(3);
    expect(failedIds(store)).toEqual([GPU1]);
    double.script({ gpus: [gpu(1_000_000), gpu(1_000_000)] });
    await pipeline.tick(15_000);
    expect(failedIds(store)).toEqual([]);
    expect(logs.filter((record) => record.hwId === GPU1).map((record) => [record.level, record.msg])).toEqual([
      [
        40,
        expect.stringMatching(
          new RegExp(
            `^${GPU1}: nvmlDeviceGetTotalEnergyConsumption: GPU is lost \\(fix: The board stopped answering .*\\); retrying, other devices unaffected$`,
          ),
        ),
      ],
      [30, `${GPU1}: reading again`],
    ]);
  });

  for (const name of ['nvml', 'amdgpu'] as const) {
    it(`marks exactly the devices of a throwing ${name} source failed`, async () => {
      const { inventory, pipeline, store } = await rig([gpu(1_000_000), gpu(1_000_000)]);
      const thrower = inventory.sources.find((source) => source.name === name)!;
      thrower.read = async () => {
        throw new Error('driver went away');
      };
      await pipeline.tick(0);
      const own = name === 'nvml' ? [GPU0, GPU1] : [AMD_ID];
      expect(failedIds(store)).toEqual([...own].sort());
      for (const id of own) expect(value(store, METRICS.hwErrors, { 'hw.id': id, 'error.type': 'source_error' })).toBe(1);
      expect(store.points(METRICS.hwErrors)).toHaveLength(own.length);
    });
  }
});
