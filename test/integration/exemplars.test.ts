// Issue 20, exemplars: a real Prometheus with exemplar storage scrapes the daemon (asking for
// OpenMetrics, as it does by default) and /api/v1/query_exemplars leads from the energy-per-request
// buckets to the requests a real OTel JS SDK sent: their trace and span ids, and their settled joules.
// The report lists them as the window's costliest requests.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { runReport } from '../../src/report/run.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { daemonSuite } from '../support/suite.ts';

const skip = skipWithoutPromBinaries('prometheus');
const POWER_WATTS = 100;
const DEVICE_ID = '0x6d2a1f0e9b3c4d5e';

describe.skipIf(skip)('exemplars from energy-per-request buckets to the requests', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: DEVICE_ID });
    },
    flags: { attributionLag: '4s' },
    prometheus: { scrapeIntervalS: 0.5, features: ['exemplar-storage'] },
  });

  it('returns the trace and span id of each request with its settled joules', async () => {
    const { daemon, prometheus } = suite;
    expect((await daemon.scrape()).includes(DEVICE_ID)).toBe(true);
    await sleep(1500);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${daemon.ingestUrl}/v1/traces` }))],
    });
    const tracer = provider.getTracer('test');
    // As in attribution.test.ts: A holds the device 0.75 s (75 J), B 0.25 s (25 J).
    const nowMs = Date.now();
    const spanA = tracer.startSpan('chat', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1200,
      attributes: { 'ml.model': 'llama-3-8b', 'ml.phase': 'inference', 'hw.id': DEVICE_ID },
    });
    spanA.end(nowMs - 200);
    const spanB = tracer.startSpan('chat', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1100,
      attributes: { 'ml.model': 'mistral-7b', 'ml.phase': 'inference', 'hw.id': DEVICE_ID },
    });
    spanB.end(nowMs - 600);
    await provider.forceFlush();
    await provider.shutdown();

    // Buckets of the default requestEnergyBuckets (5, 50, 500, 5000 J).
    const expected = [
      { model: 'llama-3-8b', span: spanA, joules: POWER_WATTS * 0.75, le: '500' },
      { model: 'mistral-7b', span: spanB, joules: POWER_WATTS * 0.25, le: '50' },
    ];
    const startS = nowMs / 1000 - 60;
    const settledJoules = new Map<string, number>();
    for (const { model, span, joules, le } of expected) {
      const found = await eventually(
        async () => {
          const series = await prometheus.queryExemplars(`ml_request_energy_joules_bucket{ml_model="${model}"}`, startS, Date.now() / 1000 + 60);
          return series.length > 0 ? series : undefined;
        },
        20_000,
        `the exemplar of ${model}`,
      );
      // One request per model: one bucket holds it, and its exemplar is that request.
      expect(found.map(({ seriesLabels }) => seriesLabels.le)).toEqual([le]);
      const exemplars = found[0]!.exemplars;
      expect(new Set(exemplars.map(({ labels }) => JSON.stringify(labels)))).toEqual(
        new Set([JSON.stringify({ span_id: span.spanContext().spanId, trace_id: span.spanContext().traceId })]),
      );
      // Its value is the request's settled joules: what ml_request_energy_joules summed for it, exactly.
      const sum = await prometheus.query(`ml_request_energy_joules_sum{ml_model="${model}"}`);
      const settled = Number((sum.result as { value: [number, string] }[])[0]!.value[1]);
      expect(exemplars.map(({ value }) => Number(value))).toEqual(exemplars.map(() => settled));
      expect(settled).toBeCloseTo(joules, 6);
      settledJoules.set(model, settled);
      // Timestamped when the request ended.
      expect(exemplars[0]!.timestamp).toBeCloseTo((span === spanA ? nowMs - 200 : nowMs - 600) / 1000, 3);
    }

    // The report's costliest requests of the window: both, most joules first, with their trace ids.
    const out = mkdtempSync(join(tmpdir(), 'footprint-exemplar-report-'));
    try {
      const { data } = await runReport({
        prometheus: prometheus.url,
        from: String(Math.floor(nowMs / 1000) - 30),
        to: String(Math.ceil(Date.now() / 1000)),
        step: '5s',
        out,
        formats: ['json', 'md'],
      });
      expect(data.costliestRequests).toEqual({
        stored: true,
        requests: expected.map(({ model, span }) => ({
          traceId: span.spanContext().traceId,
          spanId: span.spanContext().spanId,
          model,
          operation: '',
          node: `127.0.0.1:${daemon.metricsPort}`,
          energyJoules: settledJoules.get(model),
          endedAt: new Date(span === spanA ? nowMs - 200 : nowMs - 600).toISOString(),
        })),
      });
      const markdown = readFileSync(join(out, 'report.md'), 'utf8');
      expect(markdown).toContain(`| ${spanA.spanContext().traceId} | ${spanA.spanContext().spanId} | llama-3-8b |`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
