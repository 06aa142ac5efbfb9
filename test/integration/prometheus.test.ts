// The daemon on a fixture host, scraped by a real Prometheus; values checked against the fixture's truth.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { findPromBinary, skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { DEFAULT_MAX_ENERGY_RANGE_UJ } from '../support/sysfs-fixture.ts';
import { sampleValue } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const skip = skipWithoutPromBinaries('prometheus', 'promtool');
const INTENSITY_G_PER_KWH = 400;
const PUE = 1.5;

describe.skipIf(skip)('daemon scraped by a real Prometheus', () => {
  // Package 0 crosses its wrap; package 1 and the dram zones advance plainly.
  const start = { pkg0: DEFAULT_MAX_ENERGY_RANGE_UJ - 50_000_000, dram0: 1_000_000, pkg1: 7_000_000_000, dram1: 2_000_000 };
  const end = { pkg0: 70_000_000, dram0: 31_000_000, pkg1: 7_090_000_000, dram1: 12_000_000 };
  const truthJoules = { pkg0: 120, dram0: 30, pkg1: 90, dram1: 10 };

  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 4);
      fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: start.pkg0 });
      fixture.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: start.dram0 });
      // The cores' sub-zone sits inside package 0: measured, but never added, priced or attributed again.
      fixture.addRaplZone('intel-rapl:0:1', { name: 'core', energyMicrojoules: 5_000_000 });
      fixture.addRaplZone('intel-rapl:1', { name: 'package-1', energyMicrojoules: start.pkg1 });
      fixture.addRaplZone('intel-rapl:1:0', { name: 'dram', energyMicrojoules: start.dram1 });
      fixture.addHwmon('hwmon0', { name: 'ina3221', device: '1-0040', files: { power1_input: 12_500_000, power1_label: 'VDD_GPU' } });
    },
    flags: { intensity: INTENSITY_G_PER_KWH, pue: PUE, zone: 'DE' },
    prometheus: { scrapeIntervalS: 0.5 },
  });

  it('publishes exact joules, power and CO2e that Prometheus stores, across a RAPL wrap', async () => {
    const { fixture, daemon, prometheus } = suite;
    // Let the daemon read the start values, then move every counter (package 0 through its wrap).
    await eventually(async () => ((await daemon.scrape()).includes('hw_energy_joules_total') ? true : undefined));
    fixture.setEnergy('intel-rapl:0', DEFAULT_MAX_ENERGY_RANGE_UJ - 1_000);
    await sleep(500);
    fixture.setEnergy('intel-rapl:0', end.pkg0);
    fixture.setEnergy('intel-rapl:0:0', end.dram0);
    fixture.setEnergy('intel-rapl:1', end.pkg1);
    fixture.setEnergy('intel-rapl:1:0', end.dram1);
    fixture.setEnergy('intel-rapl:0:1', 45_000_000);

    const query = async (expr: string) => {
      const { result } = await prometheus.query(expr);
      const samples = result as { value: [number, string] }[];
      return samples.length === 1 ? Number(samples[0]!.value[1]) : undefined;
    };
    const expectSeries = (expr: string, expected: number) =>
      eventually(
        async () => {
          const value = await query(expr);
          return value !== undefined && Math.abs(value - expected) < 1e-9 ? value : undefined;
        },
        20_000,
        `${expr} == ${expected}`,
      );

    await expectSeries('hw_energy_joules_total{hw_id="rapl:package-0"}', truthJoules.pkg0);
    await expectSeries('hw_energy_joules_total{hw_id="rapl:package-1"}', truthJoules.pkg1);
    await expectSeries('sum(hw_energy_joules_total{hw_type="memory"})', truthJoules.dram0 + truthJoules.dram1);
    // No psys: the host is packages + dram, the hwmon sensor (a sub-part) is not added.
    await expectSeries('hw_host_energy_joules_total{measurement_method="counter"}', 250);
    const gramsPerJoule = (PUE * INTENSITY_G_PER_KWH) / 3_600_000;
    await expectSeries('carbon_emissions_grams_total{hw_id="rapl:package-0",carbon_scope="operational"}', truthJoules.pkg0 * gramsPerJoule);
    await expectSeries('sum(carbon_emissions_grams_total{carbon_scope="operational",hw_id=~"rapl:.*"})', 250 * gramsPerJoule);
    await expectSeries('hw_power_watts{hw_name=~".*VDD_GPU.*"}', 12.5);
    await expectSeries('hw_energy_joules_total{hw_id="rapl:package-0:core"}', 40);
    expect(
      await query('count(carbon_emissions_grams_total{hw_id="rapl:package-0:core"}) or count(ml_energy_joules_total{hw_id="rapl:package-0:core"})'),
    ).toBeUndefined();
    // Every priced joule is a host joule: the CO2e of all devices adds up to the host energy's.
    await expectSeries('sum(carbon_emissions_grams_total{carbon_scope="operational"})', 250 * gramsPerJoule);
    await expectSeries('carbon_intensity_grams_per_kilowatt_hour', INTENSITY_G_PER_KWH);
    // Conservation: every device's attributed joules (all idle here) equal its measured joules.
    await expectSeries('sum(ml_energy_joules_total{hw_id="rapl:package-0"})', truthJoules.pkg0);
    expect(await query('count(target_info{service_name="footprint"})')).toBe(1);
  });

  it('passes promtool check metrics on the live endpoint', async () => {
    const { daemon } = suite;
    const exposition = await daemon.scrape();
    expect(sampleValue(exposition, 'hw_energy_joules_total', { hw_id: 'rapl:package-1', measurement_method: 'counter' })).toBe(truthJoules.pkg1);
    const result = spawnSync(findPromBinary('promtool')!, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    expect(result.stderr + result.stdout).toBe('');
    expect(result.status).toBe(0);
  });

  it('answers the health probes', async () => {
    const { daemon } = suite;
    expect((await fetch(`${daemon.metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${daemon.metricsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${daemon.metricsUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${daemon.metricsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
