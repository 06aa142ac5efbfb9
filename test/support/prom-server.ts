// Starts a real Prometheus on 127.0.0.1 for integration tests: free port, throwaway data dir,
// the caller's scrape targets and rule files. Queries go through the HTTP API so a PromQL
// syntax error surfaces as a rejected promise carrying Prometheus's own message.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { findPromBinary } from './prom-binaries.ts';

interface ScrapeTarget {
  /** HOST:PORT serving /metrics. */
  address: string;
  /** Target labels, e.g. { cluster: 'test' }; Prometheus adds job and instance itself. */
  labels?: Record<string, string>;
  metricsPath?: string;
}

export interface PrometheusOptions {
  scrapeTargets?: (string | ScrapeTarget)[];
  ruleFiles?: string[];
  scrapeIntervalS?: number;
  /** Defaults to the scrape interval. */
  evaluationIntervalS?: number;
  /** Scrape job name; also the `job` label of every scraped series. */
  jobName?: string;
  readyTimeoutMs?: number;
  /** --storage.tsdb.retention.time, e.g. `2h`; Prometheus's own default (15d) when absent. */
  retention?: string;
  /** Every sample and recording also goes to this remote_write URL. */
  remoteWriteUrl?: string;
  /** Feature flags (`--enable-feature=`), e.g. `exemplar-storage` to keep the exemplars of OpenMetrics scrapes. */
  features?: string[];
}

/** One series' exemplars, as /api/v1/query_exemplars answers them. */
interface PromExemplars {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

export interface PromSample {
  metric: Record<string, string>;
  /** [unix seconds, value as text] for instant vectors. */
  value?: [number, string];
  /** Range results. */
  values?: [number, string][];
}

interface PromQueryResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  result: PromSample[] | [number, string];
}

/** A rule group as /api/v1/rules reports it. */
interface RuleGroupState {
  name: string;
  file: string;
  /** Seconds. */
  interval: number;
  /** Seconds the last evaluation took. */
  evaluationTime: number;
  /** RFC 3339; the zero time before the first evaluation. */
  lastEvaluation: string;
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  /** Every loaded rule group's interval and last evaluation. */
  ruleGroups(): Promise<RuleGroupState[]>;
  /** Instant query; rejects with Prometheus's error text when the expression does not parse or evaluate. */
  query(expr: string, timeS?: number): Promise<PromQueryResult>;
  queryRange(expr: string, startS: number, endS: number, stepS: number): Promise<PromQueryResult>;
  /** The exemplars stored for the series a selector matches between two times (needs the `exemplar-storage` feature). */
  queryExemplars(expr: string, startS: number, endS: number): Promise<PromExemplars[]>;
  /** Stops the process and removes its data directory. */
  stop(): Promise<void>;
}

/** A loopback port free at the time of asking (the caller binds it soon after). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Prometheus durations take no fractions, so everything is written in whole milliseconds. */
const promDuration = (seconds: number) => `${Math.round(seconds * 1000)}ms`;

function scrapeConfig(options: PrometheusOptions): string {
  const intervalS = options.scrapeIntervalS ?? 1;
  const targets = (options.scrapeTargets ?? []).map((t) => (typeof t === 'string' ? { address: t } : t));
  return stringify({
    global: {
      scrape_interval: promDuration(intervalS),
      scrape_timeout: promDuration(intervalS * 0.8),
      evaluation_interval: promDuration(options.evaluationIntervalS ?? intervalS),
    },
    rule_files: (options.ruleFiles ?? []).map((file) => resolve(file)),
    ...(options.remoteWriteUrl ? { remote_write: [{ url: options.remoteWriteUrl }] } : {}),
    scrape_configs: targets.length
      ? [
          {
            job_name: options.jobName ?? 'footprint',
            metrics_path: targets[0]!.metricsPath ?? '/metrics',
            static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} })),
          },
        ]
      : [],
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`prometheus not ready after ${timeoutMs}ms:\n${log()}`);
}

async function apiGet<Data = PromQueryResult>(url: string, path: string, params: Record<string, string>): Promise<Data> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const body = (await response.json()) as { status: string; data?: Data; error?: string; errorType?: string };
  if (body.status !== 'success' || !body.data) {
    throw new Error(`prometheus ${body.errorType ?? response.status}: ${body.error ?? 'no data'} (query: ${params.query})`);
  }
  return body.data;
}

async function launch(binary: string, port: number, dir: string, features: string[], retention: string | undefined) {
  let log = '';
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(features.length > 0 ? [`--enable-feature=${features.join(',')}`] : []),
      ...(retention ? [`--storage.tsdb.retention.time=${retention}`] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, log: () => log };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export async function startPrometheus(options: PrometheusOptions = {}): Promise<RunningPrometheus> {
  const binary = findPromBinary('prometheus');
  if (!binary) throw new Error('prometheus binary not found; install the Debian prometheus package');
  const dir = mkdtempSync(join(tmpdir(), 'footprint-prom-'));
  writeFileSync(join(dir, 'prometheus.yml'), scrapeConfig(options));
  // The free port can be taken between probing and binding; a second attempt covers that race.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const { child, log } = await launch(binary, port, dir, options.features ?? [], options.retention);
    try {
      await waitReady(url, child, log, options.readyTimeoutMs ?? 30_000);
    } catch (error) {
      await stopChild(child);
      if (attempt < 2 && /address already in use/.test(log())) continue;
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return {
      url,
      pid: child.pid!,
      ruleGroups: async () => ((await (await fetch(`${url}/api/v1/rules`)).json()) as { data: { groups: RuleGroupState[] } }).data.groups,
      query: (expr, timeS) => apiGet(url, '/api/v1/query', { query: expr, ...(timeS === undefined ? {} : { time: String(timeS) }) }),
      queryRange: (expr, startS, endS, stepS) =>
        apiGet(url, '/api/v1/query_range', { query: expr, start: String(startS), end: String(endS), step: String(stepS) }),
      queryExemplars: (expr, startS, endS) =>
        apiGet<PromExemplars[]>(url, '/api/v1/query_exemplars', { query: expr, start: String(startS), end: String(endS) }),
      stop: async () => {
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
