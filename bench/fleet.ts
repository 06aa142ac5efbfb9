// The fleet benchmark (issue 21): one realistic node's exposition (test/support/realistic-node.ts, captured
// from the real daemon) served as N nodes, each its own target with its own `instance`, scraped every 15 s
// by a real Prometheus with footprint's rule files, which remote_writes everything (raw series and
// recordings) into a real VictoriaMetrics single-node. It records active series, both processes' peak RSS,
// every rule group's slowest evaluation and missed evaluations, and the latency of every dashboard query
// over 1 h on both stores. Counters grow in proportion to time, so every rate and ratio has a value.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dashboardExprs, ruleFiles, substitute } from '../test/dashboards/exprs.ts';
import { startTestDaemon } from '../test/support/daemon.ts';
import { sleep } from '../test/support/eventually.ts';
import { nvmlDouble } from '../test/support/nvml-double.ts';
import { startPrometheus, type RunningPrometheus } from '../test/support/prom-server.ts';
import { ENERGY_LINES, HOST_DEVICES, MODELS, PODS, boards, drawPower, sendPodSpans, seriesPerFamily } from '../test/support/realistic-node.ts';
import { addStandardHost, createSysfsFixture } from '../test/support/sysfs-fixture.ts';
import { startVictoriaMetrics } from '../test/support/victoria-metrics.ts';
import { rssMiB } from './support.ts';

const SCRAPE_INTERVAL_S = 15;
/** Long enough for every group (1 min interval) to evaluate several times over a full head of series. */
const RUN_S = Number(process.env.BENCH_FLEET_SECONDS ?? 300);
const QUERY_RANGE_S = 3600;
/** Grafana's step for a 1 h range on a panel about 1,000 pixels wide. */
const QUERY_STEP_S = 15;

/** The realistic node's /metrics once every pod's requests are attributed, from the real daemon. */
async function realisticExposition(): Promise<string> {
  const fixture = createSysfsFixture();
  addStandardHost(fixture);
  const nvml = nvmlDouble(boards(0));
  const daemon = await startTestDaemon({
    hostRoot: fixture.root,
    nvmlLibrary: nvml.libraryPath,
    logLevel: 'warn',
    attributionLag: '3s',
    intensity: 400,
    pricePerKwh: 0.3,
  });
  const stopDrawing = drawPower(fixture, nvml);
  try {
    await daemon.scrapeUntil('idle energy of every host device', (text) => seriesPerFamily(text).get('ml_energy_joules_total') === HOST_DEVICES, 20_000);
    await sendPodSpans(daemon.ingestUrl);
    return await daemon.scrapeUntil(
      'every pod attributed',
      (text) => {
        const families = seriesPerFamily(text);
        return families.get('ml_energy_joules_total') === PODS + HOST_DEVICES && families.get('ml_request_energy_joules') === MODELS * ENERGY_LINES;
      },
      20_000,
    );
  } finally {
    stopDrawing();
    await daemon.close();
    fixture.remove();
  }
}

const MONOTONIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*(_total|_bucket|_sum|_count)[{ ]/;

/** Serves `/node/<n>`: the exposition with every counter grown by its own value per minute since the start. */
async function serveFleet(exposition: string): Promise<{ address: string; close: () => Promise<void> }> {
  const lines = exposition.split('\n').map((line) => {
    const split = line.lastIndexOf(' ');
    return !line.startsWith('#') && MONOTONIC.test(line) ? { head: line.slice(0, split), value: Number(line.slice(split + 1)) } : { head: line };
  });
  const startMs = Date.now();
  let body = '';
  let bodySecond = -1;
  const server: Server = createServer((_, response) => {
    const second = Math.floor((Date.now() - startMs) / 1000);
    if (second !== bodySecond) {
      const growth = 1 + second / 60;
      body = lines.map((line) => (line.value === undefined ? line.head : `${line.head} ${line.value * growth}`)).join('\n');
      bodySecond = second;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { address: `127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A sample of Prometheus's own /metrics, summed over its label sets. */
async function selfMetric(prometheus: RunningPrometheus, name: string): Promise<number> {
  const text = await (await fetch(`${prometheus.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

interface QueryTiming {
  where: string;
  ms: number;
  /** The store's error, when the query failed. */
  error?: string;
}

/** Every dashboard query over the last hour as Grafana sends it: a range query for series panels, instant for the others. */
async function timeDashboardQueries(url: string): Promise<QueryTiming[]> {
  const values = { variables: { cluster: '.*', node: 'node-0', namespace: '.*', model: 'model-0', job: '.*' }, rateInterval: '1m', range: '1h' };
  const endS = Math.floor(Date.now() / 1000);
  const timings: QueryTiming[] = [];
  for (const shipped of dashboardExprs()) {
    const query = substitute(shipped.expr, values);
    const params: Record<string, string> = shipped.instant
      ? { query, time: String(endS) }
      : { query, start: String(endS - QUERY_RANGE_S), end: String(endS), step: String(QUERY_STEP_S) };
    const started = performance.now();
    const response = await fetch(`${url}/api/v1/${shipped.instant ? 'query' : 'query_range'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    const answer = (await response.json()) as { status: string; error?: string };
    timings.push({
      where: shipped.where,
      ms: performance.now() - started,
      ...(answer.status === 'success' ? {} : { error: answer.error ?? String(response.status) }),
    });
  }
  return timings;
}

interface FleetRun {
  nodes: number;
  activeSeries: number;
  victoriaSeries: number;
  prometheusRssMiB: number;
  victoriaRssMiB: number;
  /** Slowest evaluation seen per group, seconds, and its interval. */
  groups: { name: string; intervalS: number; slowestS: number; evaluations: number }[];
  missedEvaluations: number;
  prometheusQueries: QueryTiming[];
  victoriaQueries: QueryTiming[];
}

async function runFleet(nodes: number, address: string): Promise<FleetRun> {
  const workDir = mkdtempSync(join(tmpdir(), 'footprint-fleet-'));
  const victoria = await startVictoriaMetrics(join(workDir, 'vm'), '1d');
  let prometheus: RunningPrometheus | undefined;
  try {
    prometheus = await startPrometheus({
      scrapeTargets: Array.from({ length: nodes }, (_, node) => ({ address, labels: { instance: `node-${node}`, __metrics_path__: `/node/${node}` } })),
      scrapeIntervalS: SCRAPE_INTERVAL_S,
      evaluationIntervalS: 60,
      ruleFiles: ruleFiles(),
      retention: '2h',
      remoteWriteUrl: `${victoria.url}/api/v1/write`,
      readyTimeoutMs: 120_000,
    });
    const slowest = new Map<string, { intervalS: number; slowestS: number; evaluations: Set<string> }>();
    let prometheusRss = 0;
    let victoriaRss = 0;
    for (const endMs = Date.now() + RUN_S * 1000; Date.now() < endMs; await sleep(5000)) {
      for (const group of await prometheus.ruleGroups()) {
        const seen = slowest.get(group.name) ?? { intervalS: group.interval, slowestS: 0, evaluations: new Set<string>() };
        if (!group.lastEvaluation.startsWith('0001')) seen.evaluations.add(group.lastEvaluation);
        seen.slowestS = Math.max(seen.slowestS, group.evaluationTime);
        slowest.set(group.name, seen);
      }
      prometheusRss = Math.max(prometheusRss, rssMiB(prometheus.pid));
      victoriaRss = Math.max(victoriaRss, rssMiB(victoria.pid));
    }
    const activeSeries = await selfMetric(prometheus, 'prometheus_tsdb_head_series');
    const missedEvaluations = await selfMetric(prometheus, 'prometheus_rule_group_iterations_missed_total');
    const prometheusQueries = await timeDashboardQueries(prometheus.url);
    await fetch(`${victoria.url}/internal/force_flush`);
    const victoriaSeries = ((await (await fetch(`${victoria.url}/api/v1/series/count`)).json()) as { data: [number] }).data[0];
    const victoriaQueries = await timeDashboardQueries(victoria.url);
    return {
      nodes,
      activeSeries,
      victoriaSeries,
      prometheusRssMiB: prometheusRss,
      victoriaRssMiB: victoriaRss,
      groups: [...slowest].map(([name, seen]) => ({ name, intervalS: seen.intervalS, slowestS: seen.slowestS, evaluations: seen.evaluations.size })),
      missedEvaluations,
      prometheusQueries,
      victoriaQueries,
    };
  } finally {
    await prometheus?.stop();
    await victoria.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

const slowestQuery = (timings: QueryTiming[]) => timings.reduce((worst, timing) => (timing.ms > worst.ms ? timing : worst));
const f = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const shown = (timing: QueryTiming) => (timing.error ? `failed: ${timing.error.slice(0, 120)}` : f(timing.ms));

/** One run's Markdown: the summary row, its rule groups and every query. */
function runTables(run: FleetRun): string[] {
  const [prometheusWorst, victoriaWorst] = [slowestQuery(run.prometheusQueries), slowestQuery(run.victoriaQueries)];
  return [
    '\n| nodes | active series (Prometheus head) | series in VictoriaMetrics | Prometheus peak RSS (MiB) | VictoriaMetrics peak RSS (MiB) | missed rule evaluations | slowest dashboard query, Prometheus (ms) | slowest, VictoriaMetrics (ms) |',
    '|---:|---:|---:|---:|---:|---:|---|---|',
    `| ${f(run.nodes)} | ${f(run.activeSeries)} | ${f(run.victoriaSeries)} | ${f(run.prometheusRssMiB)} | ${f(run.victoriaRssMiB)} | ${run.missedEvaluations} | ${shown(prometheusWorst)} (${prometheusWorst.where}) | ${shown(victoriaWorst)} (${victoriaWorst.where}) |`,
    '\n| rule group | interval (s) | evaluations seen | slowest evaluation (s) |',
    '|---|---:|---:|---:|',
    ...run.groups.map((group) => `| ${group.name} | ${group.intervalS} | ${group.evaluations} | ${f(group.slowestS, 3)} |`),
    '\n| dashboard query | Prometheus (ms) | VictoriaMetrics (ms) |',
    '|---|---:|---:|',
    ...run.prometheusQueries.map((timing, index) => `| ${timing.where} | ${shown(timing)} | ${shown(run.victoriaQueries[index]!)} |`),
  ];
}

/** Runs the fleet at each size in `nodeCounts`, printing each run's Markdown tables for docs/benchmarks.md as it ends. */
export async function benchFleet(nodeCounts: number[]): Promise<void> {
  const exposition = await realisticExposition();
  const perNode = exposition.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  const fleet = await serveFleet(exposition);
  console.log(
    `\nFleet: ${perNode} series per node, scraped every ${SCRAPE_INTERVAL_S} s for ${RUN_S} s; rule groups every 60 s; ${dashboardExprs().length} dashboard queries over 1 h (step ${QUERY_STEP_S} s)`,
  );
  try {
    for (const nodes of nodeCounts) console.log(runTables(await runFleet(nodes, fleet.address)).join('\n'));
  } finally {
    await fleet.close();
  }
}
