// Periodic rediscovery in the running daemon: a RAPL package whose energy_uj becomes readable takes
// over from the CPU estimator, and an NVML library installed after start brings its GPUs in, both
// without a restart. Rediscovery runs every 300 ms here (a test hook) instead of the 10 s minimum.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeUuid, nvmlDouble, type FakeGpu } from '../support/nvml-double.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';
import { sampleValue, type TestDaemon, startTestDaemon } from '../support/daemon.ts';

const REDISCOVER_MS = 300;
const PACKAGE_ENERGY = 'sys/class/powercap/intel-rapl:0/energy_uj';

let fixture: SysfsFixture | undefined;
let daemon: TestDaemon | undefined;
let libraryDir: string | undefined;

afterEach(async () => {
  await daemon?.close();
  fixture?.remove();
  if (libraryDir) rmSync(libraryDir, { recursive: true, force: true });
  [daemon, fixture, libraryDir] = [undefined, undefined, undefined];
});

/** One package and its dram zone; both counters stay still unless a test moves them. */
function raplHost(): SysfsFixture {
  const tree = createSysfsFixture();
  tree.setCpuVendor('GenuineIntel', 1);
  tree.setCpuTimes([{ user: 10, system: 0, idle: 90 }]);
  tree.setMemTotal(8 * 1024 * 1024);
  tree.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
  tree.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 500_000 });
  return tree;
}

const energy = (exposition: string, hwId: string, labels: Record<string, string> = {}) =>
  sampleValue(exposition, 'hw_energy_joules_total', { hw_id: hwId, ...labels });
const hostEnergy = (exposition: string, method: string) => sampleValue(exposition, 'hw_host_energy_joules_total', { measurement_method: method });

describe('rediscovery', () => {
  it('a package that becomes readable is measured from its next reading and the estimator stops', async () => {
    fixture = raplHost();
    fixture.makeUnreadable(PACKAGE_ENERGY);
    daemon = await startTestDaemon(
      { hostRoot: fixture.root, nvmlLibrary: '/nonexistent/libnvidia-ml.so.1' },
      { reader: fixture.reader, rediscoverIntervalMs: REDISCOVER_MS },
    );
    const tree = fixture;

    // Estimated: the host is the estimator's cpu plus dram (still, 0 J), so the two running sums agree exactly.
    const estimated = await daemon!.scrapeUntil('the estimator to accumulate', (text) => (energy(text, 'estimator:cpu') ?? 0) > 0.5);
    expect(energy(estimated, 'rapl:package-0')).toBeUndefined();
    expect(hostEnergy(estimated, 'counter')).toBeUndefined();
    expect(hostEnergy(estimated, 'model')).toBe(energy(estimated, 'estimator:cpu'));

    tree.makeReadable(PACKAGE_ENERGY);
    const joined = await daemon!.scrapeUntil('rapl:package-0 to join', (text) => energy(text, 'rapl:package-0') !== undefined);
    // Its first reading is a baseline; the estimator's series keeps its final joules and loses its gauges.
    expect(energy(joined, 'rapl:package-0', { hw_type: 'cpu', measurement_method: 'counter' })).toBe(0);
    const estimatorJoules = energy(joined, 'estimator:cpu')!;
    expect(estimatorJoules).toBeGreaterThanOrEqual(energy(estimated, 'estimator:cpu')!);
    expect(sampleValue(joined, 'hw_power_watts', { hw_id: 'estimator:cpu' })).toBeUndefined();
    expect(sampleValue(joined, 'hw_status', { hw_id: 'estimator:cpu' })).toBeUndefined();
    // Everything is measured: the host series is now method counter and carries on from the estimated sum.
    expect(hostEnergy(joined, 'model')).toBeUndefined();
    expect(hostEnergy(joined, 'counter')).toBe(estimatorJoules);

    tree.setEnergy('intel-rapl:0', 3_500_000);
    const measured = await daemon!.scrapeUntil('package-0 to count 2.5 J', (text) => energy(text, 'rapl:package-0') === 2.5);
    expect(energy(measured, 'estimator:cpu')).toBe(estimatorJoules);
    expect(hostEnergy(measured, 'counter')).toBe(estimatorJoules + 2.5);
    expect(daemon.discovery.estimatedClasses).toEqual([]);
    expect(daemon.discovery.sources.map((source) => source.name)).toEqual(['rapl']);
  });

  it('psys that becomes readable becomes the host value from then on; the host total never goes back', async () => {
    fixture = raplHost();
    fixture.addRaplZone('intel-rapl:1', { name: 'psys', energyMicrojoules: 2_000_000 });
    fixture.makeUnreadable('sys/class/powercap/intel-rapl:1/energy_uj');
    daemon = await startTestDaemon(
      { hostRoot: fixture.root, nvmlLibrary: '/nonexistent/libnvidia-ml.so.1' },
      { reader: fixture.reader, rediscoverIntervalMs: REDISCOVER_MS },
    );
    const tree = fixture;

    // Package and dram make up the host until psys is readable.
    tree.setEnergy('intel-rapl:0', 2_000_000);
    await daemon.scrapeUntil('the package to count 1 J', (text) => hostEnergy(text, 'counter') === 1);

    tree.makeReadable('sys/class/powercap/intel-rapl:1/energy_uj');
    const joined = await daemon.scrapeUntil('rapl:psys to join', (text) => energy(text, 'rapl:psys') !== undefined);
    expect(energy(joined, 'rapl:psys', { hw_type: 'platform', measurement_method: 'counter' })).toBe(0);
    expect(hostEnergy(joined, 'counter')).toBe(1);

    // From now on the package's 3 J are inside psys's 5 J: the host adds psys alone.
    tree.setEnergy('intel-rapl:0', 5_000_000);
    tree.setEnergy('intel-rapl:1', 7_000_000);
    const after = await daemon.scrapeUntil('package 4 J and psys 5 J', (text) => energy(text, 'rapl:package-0') === 4 && energy(text, 'rapl:psys') === 5);
    expect(hostEnergy(after, 'counter')).toBe(6);
  });

  it('GPUs join once the NVML library appears at --nvml-library', async () => {
    fixture = raplHost();
    libraryDir = mkdtempSync(join(tmpdir(), 'footprint-nvml-'));
    const libraryPath = join(libraryDir, 'libnvidia-ml.so.1');
    const boards = (extraMillijoules: number[]): FakeGpu[] =>
      extraMillijoules.map((extra) => ({ name: 'NVIDIA H100 80GB HBM3', energyMillijoules: 1_000_000 + extra, powerMilliwatts: 300_000 }));
    const double = nvmlDouble({ driverVersion: '550.54.15', gpus: boards([0, 0]) });
    daemon = await startTestDaemon({ hostRoot: fixture.root, nvmlLibrary: libraryPath }, { rediscoverIntervalMs: REDISCOVER_MS });

    expect(daemon.discovery.idleSources.map((source) => source.name)).toEqual(['hwmon', 'nvml', 'amdgpu']);
    expect(sampleValue(await daemon.scrape(), 'hw_energy_joules_total', { hw_type: 'gpu' })).toBeUndefined();

    symlinkSync(double.libraryPath, libraryPath);
    const joined = await daemon!.scrapeUntil('both GPUs to join', (text) => energy(text, fakeUuid(0)) === 0 && energy(text, fakeUuid(1)) === 0, 15_000);
    expect(energy(joined, fakeUuid(0), { hw_type: 'gpu', hw_vendor: 'nvidia', measurement_method: 'counter' })).toBe(0);
    // The packages stand still, so the host total is the GPUs' alone.
    expect(hostEnergy(joined, 'counter')).toBe(0);

    double.script({ driverVersion: '550.54.15', gpus: boards([100_000, 200_000]) });
    const measured = await daemon!.scrapeUntil(
      'the GPUs to count 100 J and 200 J',
      (text) => energy(text, fakeUuid(0)) === 100 && energy(text, fakeUuid(1)) === 200,
      15_000,
    );
    expect(hostEnergy(measured, 'counter')).toBe(300);
    expect(daemon.discovery.idleSources.map((source) => source.name)).toEqual(['hwmon', 'amdgpu']);
    expect(daemon.discovery.sources.map((source) => source.name)).toEqual(['rapl', 'nvml']);
  });
});
