// End to end: the daemon polls a loopback Electricity Maps v3 double whose intensity changes on a
// schedule and then fails; a constant-power device's grams follow the intensity in force, a real
// Prometheus sees every value, the fallback goes last_good then static, and the Fleet dashboard's
// intensity panel, run through query_range, shows each value the double served.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupZone } from '../../src/carbon/zones.ts';
import { dashboardExprs, substitute } from '../dashboards/exprs.ts';
import { scheduledLatest, startFakeServer, type FakeServer, type ScheduledLatest } from '../support/carbon-fake-servers.ts';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import type { PromSample } from '../support/prom-server.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const skip = skipWithoutPromBinaries('prometheus');
const ZONE = 'DE';
const TOKEN = 'em-test-token';
const POWER_WATTS = 100;
const DEVICE_ID = '0x6d2a1f0e9b3c4d5e';
const JOULES_PER_KWH = 3_600_000;
/** Each value holds this long: several refreshes (1 s) and scrapes (0.5 s) see it. */
const STEP_MS = 4000;
const LIVE_G_PER_KWH = [420, 180, 650];
/**
 * After the last value the double answers 500. The daemon keeps that value (last_good) until it is
 * MAX_AGE old, then uses the static table. A failing refresh takes up to ~4 s (1 s timer plus three
 * attempts with jittered backoff), so 8 s leaves a last_good window of at least ~3 s to observe.
 */
const MAX_AGE_S = 8;
const STATIC_G_PER_KWH = lookupZone(ZONE)!.gramsPerKwh;
const SCRAPE_S = 0.5;

/** One scrape of the daemon as Prometheus stored it. */
interface Scrape {
  timeS: number;
  grams: number;
  joules: number;
  gramsPerKwh: number;
  source: string;
  fallback: number;
}

describe.skipIf(skip)('live grid intensity from Electricity Maps to Prometheus', () => {
  let tokenDir: string;
  let provider: FakeServer;
  let schedule: ScheduledLatest;

  // The Electricity Maps double and its token file exist before the daemon that polls them, and go after it.
  beforeAll(async () => {
    tokenDir = mkdtempSync(join(tmpdir(), 'footprint-em-token-'));
    writeFileSync(join(tokenDir, 'token'), `${TOKEN}\n`);
    schedule = scheduledLatest(ZONE, [...LIVE_G_PER_KWH.map((gramsPerKwh) => ({ gramsPerKwh })), { status: 500 }], STEP_MS);
    provider = await startFakeServer({ '/v3/carbon-intensity/latest': schedule.handler });
  });

  afterAll(async () => {
    await provider?.close();
    if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
  });

  const suite = daemonSuite({
    // An amdgpu board: constant power, and one of the host's devices, so it is priced and attributed.
    host: (fixture) => fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: DEVICE_ID }),
    flags: () => ({
      zone: ZONE,
      intensityProvider: 'electricitymaps',
      intensityUrl: provider.url,
      intensityTokenFile: join(tokenDir, 'token'),
      intensityRefresh: '1s',
      intensityMaxAge: `${MAX_AGE_S}s`,
    }),
    prometheus: { scrapeIntervalS: SCRAPE_S },
  });

  // Prometheus takes a few seconds to apply its targets; the script starts once it scrapes.
  beforeAll(async () => {
    await eventually(async () => ((await suite.prometheus.query('up == 1')).result.length ? true : undefined), 15_000, 'the first scrape');
    schedule.begin(Date.now());
  });

  it('grams follow the intensity in force, the fallback goes last_good then static, and the dashboard shows every value', async () => {
    // Run the script to its end: the static value has taken over and Prometheus has a few scrapes of it.
    const staticSeen = await eventually(
      async () => ((await instant(`carbon_intensity_grams_per_kilowatt_hour{carbon_source="static"}`)).length ? Date.now() : undefined),
      LIVE_G_PER_KWH.length * STEP_MS + MAX_AGE_S * 1000 + 10_000,
      'the static fallback in Prometheus',
    );
    await sleep(Math.max(0, staticSeen + 4 * SCRAPE_S * 1000 - Date.now()));

    const scrapes = await storedScrapes();
    // The daemon sends the documented header with the token from the file, on every request.
    expect(provider.requests.length).toBeGreaterThan(LIVE_G_PER_KWH.length);
    expect(new Set(provider.requests.map((request) => request.headers['auth-token']))).toEqual(new Set([TOKEN]));

    // 1. Between two scrapes that saw the same intensity, the grams are exactly the joules x that intensity.
    //    Across a change they lie between the two values' grams: no third value is ever used.
    const exactPairs = new Map<number, number>();
    for (let i = 1; i < scrapes.length; i++) {
      const [before, after] = [scrapes[i - 1]!, scrapes[i]!];
      const kwh = (after.joules - before.joules) / JOULES_PER_KWH;
      const grams = after.grams - before.grams;
      if (before.gramsPerKwh === after.gramsPerKwh && before.source === after.source) {
        expect(grams).toBeCloseTo(kwh * after.gramsPerKwh, 9);
        exactPairs.set(after.gramsPerKwh, (exactPairs.get(after.gramsPerKwh) ?? 0) + 1);
      } else {
        const [low, high] = [before.gramsPerKwh, after.gramsPerKwh].sort((a, b) => a - b);
        expect(grams).toBeGreaterThanOrEqual(kwh * low! - 1e-12);
        expect(grams).toBeLessThanOrEqual(kwh * high! + 1e-12);
      }
    }
    for (const gramsPerKwh of [...LIVE_G_PER_KWH, STATIC_G_PER_KWH]) expect(exactPairs.get(gramsPerKwh) ?? 0, `${gramsPerKwh} g/kWh`).toBeGreaterThanOrEqual(2);
    // The device really drew 100 W all along, so the joules are not what makes the grams move.
    const [first, last] = [scrapes[0]!, scrapes.at(-1)!];
    expect((last.joules - first.joules) / (last.timeS - first.timeS)).toBeCloseTo(POWER_WATTS, -1);

    // 2. The states in the order Prometheus saw them: each live value, the last one kept while the
    //    provider fails (fallback 1, still labelled electricitymaps), then the static table.
    const states = scrapes
      .map((scrape) => `${scrape.source}:${scrape.gramsPerKwh}:fallback=${scrape.fallback}`)
      .filter((state, index, all) => index === 0 || state !== all[index - 1]);
    expect(states).toEqual([
      ...LIVE_G_PER_KWH.map((value) => `electricitymaps:${value}:fallback=0`),
      `electricitymaps:${LIVE_G_PER_KWH.at(-1)}:fallback=1`,
      `static:${STATIC_G_PER_KWH}:fallback=1`,
    ]);
    const age = await instant('footprint_carbon_intensity_age_seconds');
    expect(age.map((sample) => [sample.metric.carbon_source, Number(sample.value![1])])).toEqual([['static', 0]]);

    // 3. The Fleet dashboard's intensity panel over the run, as Grafana would ask for it.
    const panel = dashboardExprs().find((expr) => expr.dashboard === 'fleet-carbon-overview.json' && /carbon intensity/i.test(expr.panelTitle ?? ''));
    expect(panel, 'the Fleet dashboard has a grid intensity panel').toBeDefined();
    // The panel reads a recording the rules make once a minute, longer than this run: the recording's own
    // expression stands in for it, over the raw gauge with the panel's matchers.
    const recording = readFileSync(join(import.meta.dirname, '../../deploy/prometheus/rules/footprint-recording.yaml'), 'utf8');
    const record = 'cluster_zone:carbon_intensity_grams_per_kilowatt_hour:max';
    expect(recording).toContain(
      `record: ${record}\n        expr: max by (cluster, carbon_zone, carbon_source, carbon_signal) (carbon_intensity_grams_per_kilowatt_hour)`,
    );
    const inlined = panel!.expr.replace(
      new RegExp(`${record}(\\{[^}]*\\})`),
      (_match, matchers: string) => `max by (cluster, carbon_zone, carbon_source, carbon_signal) (carbon_intensity_grams_per_kilowatt_hour${matchers})`,
    );
    expect(inlined).not.toBe(panel!.expr);
    const expr = substitute(inlined, { variables: { cluster: '.*' }, rateInterval: '2s', range: '1m' });
    const { result } = await suite.prometheus.queryRange(expr, first.timeS, last.timeS, SCRAPE_S);
    const shown = new Map<string, Set<number>>();
    for (const series of result as PromSample[]) {
      expect(series.metric).toMatchObject({ carbon_zone: ZONE, carbon_signal: 'average' });
      const values = shown.get(series.metric.carbon_source!) ?? new Set<number>();
      for (const [, value] of series.values ?? []) values.add(Number(value));
      shown.set(series.metric.carbon_source!, values);
    }
    expect(Object.fromEntries([...shown].map(([source, values]) => [source, [...values].sort((a, b) => a - b)]))).toEqual({
      electricitymaps: [...LIVE_G_PER_KWH].sort((a, b) => a - b),
      static: [STATIC_G_PER_KWH],
    });
  });

  async function instant(expr: string): Promise<PromSample[]> {
    return (await suite.prometheus.query(expr)).result as PromSample[];
  }

  /** Every scrape Prometheus stored, joined on the scrape timestamp (all series of one scrape share it). */
  async function storedScrapes(): Promise<Scrape[]> {
    const window = '5m';
    const raw = async (selector: string) =>
      (await instant(`${selector}[${window}]`)).flatMap((series) =>
        (series.values ?? []).map(([timeS, value]) => ({ timeS, value: Number(value), metric: series.metric })),
      );
    const byTime = new Map<number, Partial<Scrape>>();
    const put = (timeS: number, fields: Partial<Scrape>) => byTime.set(timeS, { ...byTime.get(timeS), timeS, ...fields });
    for (const { timeS, value } of await raw(`carbon_emissions_grams_total{hw_id="${DEVICE_ID}",carbon_scope="operational"}`)) put(timeS, { grams: value });
    for (const { timeS, value } of await raw(`hw_energy_joules_total{hw_id="${DEVICE_ID}"}`)) put(timeS, { joules: value });
    for (const { timeS, value, metric } of await raw('carbon_intensity_grams_per_kilowatt_hour'))
      put(timeS, { gramsPerKwh: value, source: metric.carbon_source });
    for (const { timeS, value } of await raw('footprint_carbon_intensity_fallback')) put(timeS, { fallback: value });
    return [...byTime.values()]
      .filter((scrape): scrape is Scrape => ['grams', 'joules', 'gramsPerKwh', 'fallback'].every((key) => key in scrape))
      .sort((a, b) => a.timeS - b.timeS);
  }
});
