// /metrics content negotiation on the real metrics listener: a scraper that asks for OpenMetrics gets
// the same samples as the Prometheus text format, with counter families named as OpenMetrics names
// them, `# EOF`, and an exemplar on ml_request_energy_joules buckets: the costliest recent request of
// each bucket, its trace and span id, its joules and when it ended. Without the header: the
// Prometheus text format, as before.
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/attribution/activity.ts';
import { METRICS } from '../../src/telemetry/contract.ts';
import { createTelemetry, type Telemetry } from '../../src/telemetry/meter-provider.ts';
import { startMetricsServer } from '../../src/telemetry/metrics-server.ts';
import { wantsOpenMetrics } from '../../src/telemetry/openmetrics.ts';
import { Publisher } from '../../src/telemetry/publisher.ts';
import { EXEMPLAR_RECENT_MS, SeriesStore } from '../../src/telemetry/series-store.ts';

/** What Prometheus 2.x sends on every scrape (scrape.go's scrapeAcceptHeader). */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const END_MS = 1_750_000_000_000;
const LLAMA = { model: 'llama', phase: 'inference' };

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0');
function request(id: number, endMs: number, workload = LLAMA): RequestRecord {
  return { workload, startMs: endMs - 1000, endMs, operation: 'chat', traceId: `ab${hex(id, 30)}`, spanId: `cd${hex(id, 14)}` };
}

/** The process's own series move between two scrapes: their values are not compared. */
const withoutProcessValues = (text: string) => text.replace(/^((?:process|nodejs)_[^ ]+) .*$/gm, '$1 <value>');

describe('/metrics content negotiation', () => {
  let telemetry: Telemetry | undefined;
  let server: { port: number; close(): Promise<void> } | undefined;
  afterEach(async () => {
    await server?.close();
    await telemetry?.close();
  });

  async function serve(store: SeriesStore) {
    telemetry = await createTelemetry({ store, version: '1.2.3', hostName: 'node-1', otlpIntervalMs: 60_000, memoryLimitBytes: 2 ** 28 });
    server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      exporter: telemetry.prometheus,
      openMetrics: telemetry.openMetrics,
      connections: { idleTimeoutMs: 5000, maxConnections: 10 },
      isReady: () => true,
    });
    const port = server.port;
    return async (accept?: string) => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: accept ? { accept } : {} });
      return { type: response.headers.get('content-type'), text: await response.text() };
    };
  }

  /** The contract's histogram bounds (0.1 ... 10000 J), so buckets le=0.5 and le=5 exist. */
  const CONTRACT_BUCKETS = {
    podSeries: false,
    requestDurationBuckets: [...METRICS.mlRequestDuration.boundaries!],
    requestEnergyBuckets: [...METRICS.mlRequestEnergy.boundaries!],
  };

  it('links each bucket to its costliest recent request, and is the Prometheus text otherwise', async () => {
    const store = new SeriesStore({ idleTimeoutMs: 600_000, cardinalityLimit: 100, cardinalityLimitBytes: 2 ** 20 });
    const publisher = new Publisher(store, 'USD', false, CONTRACT_BUCKETS);
    // Bucket le=5: 2 J, then the costlier 4.5 J, then 3 J (cheaper, recent: not linked). Bucket le=0.5: 0.25 J.
    // A request without ids (a span that had none) is counted and never linked.
    publisher.request({ request: request(1, END_MS), energyJoules: 2 }, END_MS);
    publisher.request({ request: request(2, END_MS + 10), energyJoules: 4.5 }, END_MS);
    publisher.request({ request: request(3, END_MS + 20), energyJoules: 3 }, END_MS);
    publisher.request({ request: request(4, END_MS + 30), energyJoules: 0.25 }, END_MS);
    const { traceId: _, spanId: __, ...anonymous } = request(5, END_MS + 40);
    publisher.request({ request: anonymous, energyJoules: 7 }, END_MS);
    const scrape = await serve(store);

    const plain = await scrape();
    expect(plain.type).toBe('text/plain');
    expect(plain.text).not.toContain('trace_id');
    expect(plain.text).toContain('# TYPE ml_requests_total counter\n');

    const open = await scrape(PROMETHEUS_ACCEPT);
    expect(open.type).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const labels = 'ml_model="llama",ml_phase="inference",gen_ai_operation_name="chat"';
    const buckets = open.text.split('\n').filter((line) => line.startsWith('ml_request_energy_joules_bucket'));
    expect(buckets).toEqual([
      `ml_request_energy_joules_bucket{${labels},le="0.1"} 0`,
      `ml_request_energy_joules_bucket{${labels},le="0.5"} 1 # {trace_id="ab${hex(4, 30)}",span_id="cd${hex(4, 14)}"} 0.25 1750000000.030`,
      `ml_request_energy_joules_bucket{${labels},le="1"} 1`,
      `ml_request_energy_joules_bucket{${labels},le="5"} 4 # {trace_id="ab${hex(2, 30)}",span_id="cd${hex(2, 14)}"} 4.5 1750000000.010`,
      `ml_request_energy_joules_bucket{${labels},le="10"} 5`,
      ...[50, 100, 500, 1000, 5000, 10000, '+Inf'].map((le) => `ml_request_energy_joules_bucket{${labels},le="${le}"} 5`),
    ]);
    expect(open.text.endsWith('\n# EOF\n')).toBe(true);
    // Counter families are named without _total (their samples keep it); everything else is the Prometheus text.
    expect(open.text).toContain('# HELP ml_requests Requests');
    expect(open.text).toContain('# TYPE ml_requests counter\nml_requests_total{');
    // HELP text escapes `"` (the request metrics' help has none; ml_energy's has, and is checked below).
    expect(open.text.split('\n').filter((line) => line.startsWith('# HELP') && /[^\\]"/.test(line))).toEqual([]);
    const backToPrometheus = open.text
      .replace(/ # \{trace_id=.*$/gm, '')
      .replace(/^(# HELP .*)$/gm, (line) => line.replaceAll('\\"', '"'))
      .replace(/^# (HELP|TYPE) (\w+) /gm, (line, _kind, name) =>
        new RegExp(`^${name}_total[{ ]`, 'm').test(open.text) ? line.replace(name, `${name}_total`) : line,
      )
      .replace(/# EOF\n$/, '');
    expect(withoutProcessValues(backToPrometheus)).toBe(withoutProcessValues(plain.text.endsWith('\n') ? plain.text : `${plain.text}\n`));
  });

  it('escapes quotes in HELP text, as OpenMetrics requires', async () => {
    const store = new SeriesStore({ idleTimeoutMs: 600_000, cardinalityLimit: 100, cardinalityLimitBytes: 2 ** 20 });
    store.add(METRICS.mlEnergy, { 'ml.model': 'llama', 'hw.id': 'GPU-0' }, 5, END_MS);
    const scrape = await serve(store);
    expect((await scrape()).text).toContain(
      '# HELP ml_energy_joules_total Device energy attributed to the workload (ml.phase="idle" for time no workload used).\n',
    );
    expect((await scrape(PROMETHEUS_ACCEPT)).text).toContain(
      '# HELP ml_energy_joules Device energy attributed to the workload (ml.phase=\\"idle\\" for time no workload used).\n# TYPE ml_energy_joules counter\nml_energy_joules_total{',
    );
  });

  it('lets a cheaper request take a bucket once its exemplar is no longer recent', async () => {
    const store = new SeriesStore({ idleTimeoutMs: 600_000, cardinalityLimit: 100, cardinalityLimitBytes: 2 ** 20 });
    const publisher = new Publisher(store, 'USD', false, CONTRACT_BUCKETS);
    publisher.request({ request: request(1, END_MS), energyJoules: 4.5 }, END_MS);
    publisher.request({ request: request(2, END_MS + EXEMPLAR_RECENT_MS), energyJoules: 2 }, END_MS);
    const scrape = await serve(store);
    expect((await scrape(PROMETHEUS_ACCEPT)).text).toContain(`le="5"} 2 # {trace_id="ab${hex(1, 30)}"`);
    publisher.request({ request: request(3, END_MS + EXEMPLAR_RECENT_MS + 1), energyJoules: 2 }, END_MS);
    expect((await scrape(PROMETHEUS_ACCEPT)).text).toContain(`le="5"} 3 # {trace_id="ab${hex(3, 30)}",span_id="cd${hex(3, 14)}"} 2 `);
  });
});

describe('wantsOpenMetrics', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['text/plain;version=0.0.4', false],
    [PROMETHEUS_ACCEPT, true],
    ['application/openmetrics-text', true],
    ['application/openmetrics-text;q=0.2,text/plain;q=0.5', false],
    ['application/openmetrics-text;q=0', false],
  ])('%j -> %s', (accept, wanted) => expect(wantsOpenMetrics(accept)).toBe(wanted));
});
