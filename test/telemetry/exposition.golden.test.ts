// Golden /metrics exposition for the standard sysfs fixture (node_exporter's
// collector/fixtures/e2e-output.txt pattern): the daemon's whole text output on test/support's
// standard two-socket host must equal the committed file, so a renamed metric or label, a changed
// HELP text or a changed value shows up as a diff in review. Values that depend on wall time are
// normalised first. UPDATE_GOLDEN=1 rewrites the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleValue } from '../support/daemon.ts';
import { eventually } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';
import { addStandardHost } from '../support/sysfs-fixture.ts';

const GOLDEN = join(import.meta.dirname, 'fixtures/standard-host.metrics.txt');

/** Series whose value moves with wall time (power over a tick's length, embodied grams and device-hours accrue per second, timings, the process's own resources). */
const TIME_DEPENDENT =
  /^(process_|nodejs_|hw_power_watts|hw_host_power_watts|footprint_sample_duration_seconds|footprint_carbon_intensity_age_seconds|footprint_ledger_pending_intervals|carbon_emissions_grams_total\{[^}]*carbon_scope="embodied"|ml_emissions_grams_total\{[^}]*carbon_scope="embodied"|energy_cost_total\{[^}]*cost_kind="hardware"|ml_cost_total)/;

function normalise(exposition: string): string {
  return exposition
    .split('\n')
    .map((line) => line.replace(/host_name="[^"]*"/, 'host_name="<host>"').replace(/service_version="[^"]*"/, 'service_version="<version>"'))
    .map((line) => (TIME_DEPENDENT.test(line) ? line.replace(/ [^ ]+$/, ' <time-dependent>') : line))
    .join('\n');
}

describe('golden /metrics of the standard host', () => {
  // A 1 s interval: each counter below jumps at once (100 J on a 270 W package), which is plausible
  // only over at least 123 ms (3 x the limit, src/energy/plausibility.ts); 200 ms ticks delayed by a
  // loaded machine can come closer than that, and the reading would rightly be refused.
  const suite = daemonSuite({ host: addStandardHost, flags: { intensity: 400, pue: 1.2, zone: 'DE', interval: '1s', memoryLimit: '256Mi' } });

  it('matches test/telemetry/fixtures/standard-host.metrics.txt', async () => {
    const { daemon, fixture } = suite;
    // After the baseline reading, each zone's counter moves once by a known amount (100 J, 10 J, 80 J, 8 J).
    await eventually(async () => ((await daemon.scrape()).includes('ml_energy_joules_total{') ? true : undefined), 15_000, 'the baseline');
    fixture.setEnergy('intel-rapl:0', 1_000_000_000 + 100_000_000);
    fixture.setEnergy('intel-rapl:0:0', 100_000_000 + 10_000_000);
    fixture.setEnergy('intel-rapl:1', 2_000_000_000 + 80_000_000);
    fixture.setEnergy('intel-rapl:1:0', 200_000_000 + 8_000_000);
    const exposition = await daemon.scrapeUntil(
      'the moved counters measured and attributed',
      (text) => sampleValue(text, 'hw_host_energy_joules_total') === 198 && sampleValue(text, 'ml_energy_joules_total', { hw_id: 'rapl:package-1:dram' }) === 8,
      15_000,
    );
    const actual = normalise(exposition);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, actual);
    expect(actual, 'rerun with UPDATE_GOLDEN=1 to accept the change, and review the diff').toBe(readFileSync(GOLDEN, 'utf8'));
  });
});
