// A 40 s generation exported when it ends (as every OTel SDK does) with the default 15 s attribution
// lag: most of its intervals were split before it arrived, and it still gets all of its joules from
// the provisional idle. A span whose time another workload already took is counted truncated and
// answered in partialSuccess. Device: an amdgpu board at constant power, so the truth is watts x seconds.
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { sampleValue } from '../support/daemon.ts';
import { sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const POWER_WATTS = 100;
const DEVICE_ID = '0x5b1e7c2d4a6f8091';
const SPAN_MS = 40_000;

describe('long spans with the default attribution lag and horizon', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: DEVICE_ID });
    },
    // The config defaults (15 s lag, 10 m horizon), spelled out because the test fixture's lag is 0.
    flags: { attributionLag: '15s', attributionHorizon: '10m', intensity: 400 },
  });

  it('gives a 40 s span exported at its end all its energy, and counts a span whose time was taken as truncated', { timeout: 120_000 }, async () => {
    const { daemon } = suite;
    await sleep(1000);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm' }),
      // The SDK's usual batching: the span leaves the process only after it ends.
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${daemon.ingestUrl}/v1/traces` }))],
    });
    const startMs = Date.now();
    const span = provider.getTracer('test').startSpan('llm_request', {
      kind: SpanKind.SERVER,
      startTime: startMs,
      attributes: {
        'ml.model': 'llama-3-70b',
        'ml.phase': 'inference',
        'hw.id': DEVICE_ID,
        'gen_ai.usage.input_tokens': 200,
        'gen_ai.usage.output_tokens': 1800,
      },
    });
    await sleep(SPAN_MS);
    span.end(startMs + SPAN_MS);
    await provider.forceFlush();
    await provider.shutdown();

    const model = { ml_model: 'llama-3-70b', hw_id: DEVICE_ID };
    // The last 15 s are still pending: tokens and the request wait for them, on the energy's time basis.
    const early = await daemon.scrape();
    expect(sampleValue(early, 'footprint_ingest_spans_total', { outcome: 'accepted' })).toBe(1);
    expect(sampleValue(early, 'ml_tokens_total', { ml_model: 'llama-3-70b' })).toBeUndefined();

    const settled = await daemon.scrapeUntil(
      'the long span settled',
      (text) => sampleValue(text, 'ml_requests_total', { ml_model: 'llama-3-70b' }) === 1,
      30_000,
    );
    // Alone on the device: every joule of its 40 s, 100 W x 40 s = 4000 J.
    expect(sampleValue(settled, 'ml_energy_joules_total', model)).toBeCloseTo(POWER_WATTS * (SPAN_MS / 1000), 6);
    expect(sampleValue(settled, 'ml_request_energy_joules_sum', { ml_model: 'llama-3-70b' })).toBeCloseTo(POWER_WATTS * (SPAN_MS / 1000), 6);
    expect(sampleValue(settled, 'ml_tokens_total', { ml_model: 'llama-3-70b', gen_ai_token_type: 'output' })).toBe(1800);
    // Conservation at this scrape: attributed + unsettled == measured.
    const attributed =
      sampleValue(settled, 'ml_energy_joules_total', model)! + (sampleValue(settled, 'ml_energy_joules_total', { ml_phase: 'idle', hw_id: DEVICE_ID }) ?? 0);
    const unsettled = sampleValue(settled, 'footprint_attribution_unsettled_energy_joules', { hw_id: DEVICE_ID })!;
    const measured = sampleValue(settled, 'hw_energy_joules_total', { hw_id: DEVICE_ID })!;
    expect(Math.abs(attributed + unsettled - measured)).toBeLessThan(1e-9 * measured);

    // A second model over [10 s, 20 s) of the same device arrives now: llama took that time.
    const nano = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'embedder' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  name: 'embed',
                  kind: 2,
                  startTimeUnixNano: nano(startMs + 10_000),
                  endTimeUnixNano: nano(startMs + 20_000),
                  attributes: [
                    { key: 'ml.model', value: { stringValue: 'bge-large' } },
                    { key: 'hw.id', value: { stringValue: DEVICE_ID } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    const response = await fetch(`${daemon.ingestUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    // proto3 JSON writes int64 as a string.
    const answer = (await response.json()) as { partialSuccess?: { rejectedSpans?: string; errorMessage?: string } };
    expect(answer.partialSuccess?.rejectedSpans).toBe('1');
    expect(answer.partialSuccess?.errorMessage).toMatch(/^rejected spans: 1 truncated/);
    const after = await daemon.scrapeUntil('the truncated span counted', (text) => sampleValue(text, 'ml_requests_total', { ml_model: 'bge-large' }) === 1);
    expect(sampleValue(after, 'footprint_ingest_spans_total', { outcome: 'truncated' })).toBe(1);
    expect(sampleValue(after, 'footprint_attribution_truncated_energy_joules_total')).toBeCloseTo(POWER_WATTS * 10, 6);
    expect(sampleValue(after, 'ml_energy_joules_total', { ml_model: 'bge-large' })).toBeUndefined();
    expect(sampleValue(after, 'ml_energy_joules_total', model)).toBeCloseTo(POWER_WATTS * (SPAN_MS / 1000), 6);
  });
});
