// VictoriaMetrics parity: the same synthetic month goes into a real Prometheus (promtool blocks) and a
// real VictoriaMetrics (its import API); `footprint report` and every shipped dashboard, rule and
// Grafana alert expression must give the same answers on both. The report's window queries are
// increase(counter[W]) with W a whole number of samples and the window's end on a sample, so
// Prometheus has samples on both edges (no extrapolation) and VictoriaMetrics, which never
// extrapolates and takes the last sample before the window as the base, gets the same last - first.
// Tolerance: float summation order (1e-9 relative, 1e-12 absolute for change ratios of equal totals).
// One documented difference: Prometheus 2.x range selectors include the left edge ([t - d, t]),
// VictoriaMetrics' (like Prometheus 3's) do not ((t - d, t]), so avg_over_time of the intensity gauge
// averages 13 samples on Prometheus and 12 on VictoriaMetrics per 3 h step; both are checked exactly.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusClient, type PromSample } from '../../src/report/prometheus-client.ts';
import { runReport } from '../../src/report/run.ts';
import type { ReportData } from '../../src/report/report-data.ts';
import { dashboardExprs, grafanaAlertExprs, ruleExprs, substitute } from '../dashboards/exprs.ts';
import { HISTORY_START_SECONDS, intensityGramsPerKwh, SAMPLE_SECONDS } from '../support/report-history.ts';
import { haveBinaries, PROMETHEUS, PROMTOOL, startLoadedPrometheus, type LoadedPrometheus } from '../support/report-prometheus.ts';
import { startLoadedVictoriaMetrics, VICTORIA_METRICS, type LoadedVictoriaMetrics } from '../support/victoria-metrics.ts';

const DAY = 86_400;
const FROM = HISTORY_START_SECONDS + 14 * DAY;
const TO = HISTORY_START_SECONDS + 28 * DAY;
const TMP = resolve('test/.tmp/report-victoriametrics');
const RELATIVE_TOLERANCE = 1e-9;

/** Every leaf of a JSON value by path, numbers kept as numbers. */
function leaves(value: unknown, path = '$', into = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) leaves(child, `${path}.${key}`, into);
  } else {
    into.set(path, value);
  }
  return into;
}

const ABSOLUTE_TOLERANCE = 1e-12;
const close = (a: number, b: number) => Math.abs(a - b) <= Math.max(Math.abs(a), Math.abs(b)) * RELATIVE_TOLERANCE + ABSOLUTE_TOLERANCE;

/** Mean intensity over the history's samples in [t - step, t] (closed) or (t - step, t] (left-open). */
function meanIntensity(zone: 'DE' | 'FR', endSeconds: number, stepSeconds: number, leftEdge: boolean): number {
  const times: number[] = [];
  for (let t = endSeconds - stepSeconds + (leftEdge ? 0 : SAMPLE_SECONDS); t <= endSeconds; t += SAMPLE_SECONDS) times.push(t);
  return times.reduce((sum, t) => sum + intensityGramsPerKwh(zone, t), 0) / times.length;
}

/** Paths where two JSON values differ beyond float summation order. */
function differences(prometheus: unknown, victoria: unknown): string[] {
  const left = leaves(prometheus);
  const right = leaves(victoria);
  const paths = new Set([...left.keys(), ...right.keys()]);
  return [...paths]
    .filter((path) => {
      const a = left.get(path);
      const b = right.get(path);
      return typeof a === 'number' && typeof b === 'number' ? !close(a, b) : a !== b;
    })
    .map((path) => `${path}: prometheus ${JSON.stringify(left.get(path))}, victoriametrics ${JSON.stringify(right.get(path))}`);
}

/** An instant vector as labels -> value, the metric name dropped (VictoriaMetrics keeps it in fewer places). */
function byLabels(samples: PromSample[]): Record<string, number> {
  const entries = samples.map(({ metric, points }) => {
    const { __name__: _name, ...labels } = metric;
    return [JSON.stringify(Object.entries(labels).sort()), points[0]![1]] as const;
  });
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

describe.skipIf(!haveBinaries(PROMTOOL, PROMETHEUS, VICTORIA_METRICS))('the same answers on VictoriaMetrics as on Prometheus', () => {
  let prometheus: LoadedPrometheus;
  let victoria: LoadedVictoriaMetrics;

  beforeAll(async () => {
    prometheus = await startLoadedPrometheus(join(TMP, 'prometheus'));
    victoria = await startLoadedVictoriaMetrics(join(TMP, 'victoria-metrics'), prometheus.series);
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
    await victoria?.stop();
  });

  const report = async (url: string, name: string): Promise<ReportData> => {
    const out = join(TMP, name);
    await runReport({ prometheus: url, from: String(FROM), to: String(TO), out, top: 3, formats: ['json'], now: new Date(TO * 1000) });
    return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as ReportData;
  };

  it('footprint report writes the same report.json', async () => {
    const fromPrometheus = await report(prometheus.url, 'out-prometheus');
    const fromVictoria = await report(victoria.url, 'out-victoriametrics');
    expect(fromPrometheus.missingMetrics).toEqual([]);
    expect(fromPrometheus.perModel.map((row) => row.model)).toEqual(['bge-small', 'llama-3-8b', 'mistral-7b']);
    const comparable = (data: ReportData) => ({ ...data, prometheusUrl: '', series: { ...data.series, intensityByZone: [] } });
    expect(differences(comparable(fromPrometheus), comparable(fromVictoria))).toEqual([]);

    const points = fromPrometheus.series.intensityByZone;
    const stepSeconds = (Date.parse(points[1]!.time) - Date.parse(points[0]!.time)) / 1000;
    expect(stepSeconds).toBe(3 * 3600);
    expect(fromVictoria.series.intensityByZone.map(({ time, key }) => ({ time, key }))).toEqual(points.map(({ time, key }) => ({ time, key })));
    const expectMeans = (data: ReportData, leftEdge: boolean) => {
      for (const { time, key, value } of data.series.intensityByZone) {
        const zone = key.startsWith('DE') ? 'DE' : 'FR';
        expect(close(value, meanIntensity(zone, Date.parse(time) / 1000, stepSeconds, leftEdge)), `${key} at ${time}`).toBe(true);
      }
    };
    expectMeans(fromPrometheus, true);
    expectMeans(fromVictoria, false);
    // The step across the DE drop on day 21 is where the two differ: (12 x 420 + 260) / 13 against (11 x 420 + 260) / 12.
    const acrossDrop = (data: ReportData) => data.series.intensityByZone.find((p) => p.key === 'DE (average)' && p.time === '2025-01-22T00:00:00.000Z')!.value;
    expect(close(acrossDrop(fromPrometheus), (12 * 420 + 260) / 13)).toBe(true);
    expect(close(acrossDrop(fromVictoria), (11 * 420 + 260) / 12)).toBe(true);
  }, 120_000);

  it('every shipped expression gives the same vector at the end of the history', async () => {
    const onPrometheus = new PrometheusClient({ baseUrl: prometheus.url });
    const onVictoria = new PrometheusClient({ baseUrl: victoria.url });
    const everything = { cluster: '.*', node: '.*', namespace: '.*', model: '.*', job: '.*' };
    const exprs = [...dashboardExprs(), ...ruleExprs(), ...grafanaAlertExprs()];
    const mismatches: string[] = [];
    let nonEmpty = 0;
    let perMinute = 0;
    for (const { where, expr } of exprs) {
      // The rules' per-minute increases ([1m], for scrapes every 30 s or faster) span less than one of the
      // history's 15-minute samples: Prometheus has no two samples in them and VictoriaMetrics extrapolates
      // from the sample before, so they are not comparable here; promtool proves each against its raw
      // meaning (test/dashboards/recorded-equals-raw.test.ts).
      if (expr.includes('[1m]')) {
        perMinute += 1;
        continue;
      }
      // Ranges are whole numbers of the history's 15-minute samples, as a real scrape's would be of its interval.
      const query = substitute(expr, { variables: everything, rateInterval: '1h', range: '1d' });
      const expected = byLabels(await onPrometheus.query(query, TO));
      const actual = byLabels(await onVictoria.query(query, TO));
      if (Object.keys(expected).length > 0) nonEmpty += 1;
      const diff = differences(expected, actual);
      if (diff.length > 0) mismatches.push(`${where}: ${query}\n  ${diff.join('\n  ')}`);
    }
    expect(mismatches).toEqual([]);
    // The others read recording-rule series (no rules run over backfilled blocks) or series the history lacks.
    expect({ nonEmpty, perMinute, of: exprs.length }).toEqual({ nonEmpty: 18, perMinute: 19, of: 147 });
  }, 120_000);
});
