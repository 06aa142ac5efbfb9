// Issue 20, energy on the trace: with --traces-endpoint, the daemon exports one `footprint.energy`
// span per settled request to a loopback OTLP receiver (official protos), in the request's trace,
// under the request's span, over its interval, with the joules ml_request_energy_joules recorded for
// it and the grams and cost of those joules. Requests come from a real OTel JS SDK.
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.ts';
import { daemonSuite } from '../support/suite.ts';

const POWER_WATTS = 100;
const DEVICE_ID = '0x6d2a1f0e9b3c4d5e';
const INTENSITY = 500;
const PRICE_PER_KWH = 0.3;
const DEVICE_HOUR_PRICE = 2.4;
const EMBODIED_KG = 1000;
const LIFETIME_YEARS = 4;
const SECONDS_PER_YEAR = 365.25 * 86_400;

describe.each(['http/protobuf', 'grpc'] as const)('footprint.energy spans over %s', (protocol) => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver(protocol);
  });
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: DEVICE_ID });
    },
    flags: () => ({
      attributionLag: '4s',
      intensity: INTENSITY,
      pricePerKwh: PRICE_PER_KWH,
      deviceHourPrice: { gpu: DEVICE_HOUR_PRICE },
      embodied: [{ match: 'gpu', manufacturingKgCo2e: EMBODIED_KG, lifetimeYears: LIFETIME_YEARS }],
      tracesEndpoint: receiver.url,
      tracesProtocol: protocol,
    }),
  });
  afterAll(async () => receiver.close());

  it('exports one span per settled request, in its trace, under its span, with its joules, grams and cost', async () => {
    const { daemon } = suite;
    expect((await daemon.scrape()).includes(DEVICE_ID)).toBe(true);
    await sleep(1500);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${daemon.ingestUrl}/v1/traces` }))],
    });
    const tracer = provider.getTracer('test');
    // As in attribution.test.ts: llama holds the device 0.75 s (75 J), mistral 0.25 s (25 J).
    const nowMs = Date.now();
    const llama = tracer.startSpan('chat', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1200,
      attributes: { 'ml.model': 'llama-3-8b', 'ml.phase': 'inference', 'hw.id': DEVICE_ID, 'gen_ai.operation.name': 'chat' },
    });
    llama.end(nowMs - 200);
    const mistral = tracer.startSpan('embed', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1100,
      attributes: { 'ml.model': 'mistral-7b', 'ml.phase': 'inference', 'hw.id': DEVICE_ID },
    });
    mistral.end(nowMs - 600);
    await provider.forceFlush();
    await provider.shutdown();

    await eventually(() => (receiver.spans.length >= 2 ? true : undefined), 20_000, 'two footprint.energy spans');
    // Exported once: nothing more arrives over the next batch delays.
    await sleep(2500);
    expect(receiver.spans.map(({ name }) => name)).toEqual(['footprint.energy', 'footprint.energy']);

    const exposition = await daemon.scrape();
    const embodiedGramsPerSecond = (EMBODIED_KG * 1000) / (LIFETIME_YEARS * SECONDS_PER_YEAR);
    for (const [span, model, seconds, startMs, endMs] of [
      [llama, 'llama-3-8b', 0.75, nowMs - 1200, nowMs - 200],
      [mistral, 'mistral-7b', 0.25, nowMs - 1100, nowMs - 600],
    ] as const) {
      const { traceId, spanId } = span.spanContext();
      const energySpan = receiver.spans.find((received) => received.traceId === traceId)!;
      expect(energySpan).toMatchObject({ parentSpanId: spanId, kind: 1, scope: 'footprint' });
      expect(energySpan.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(energySpan.spanId).not.toBe(spanId);
      expect([energySpan.startTimeUnixNano, energySpan.endTimeUnixNano]).toEqual([BigInt(startMs) * 1_000_000n, BigInt(endMs) * 1_000_000n]);
      expect(energySpan.resource['service.name']).toBe('footprint');
      const recorded = sampleValue(exposition, 'ml_request_energy_joules_sum', { ml_model: model })!;
      const joules = energySpan.attributes['ml.energy'] as number;
      expect(Math.abs(joules - recorded)).toBeLessThanOrEqual(1e-9);
      expect(joules).toBeCloseTo(POWER_WATTS * seconds, 6);
      expect(energySpan.attributes['ml.emissions.operational']).toBeCloseTo((joules / 3_600_000) * INTENSITY, 12);
      expect(energySpan.attributes['ml.emissions.embodied']).toBeCloseTo(embodiedGramsPerSecond * seconds, 12);
      expect(energySpan.attributes['ml.cost.amount']).toBeCloseTo((joules / 3_600_000) * PRICE_PER_KWH + (DEVICE_HOUR_PRICE * seconds) / 3600, 12);
      expect(energySpan.attributes).toMatchObject({
        'ml.cost.currency': 'USD',
        'hw.id': [DEVICE_ID],
        'measurement.method': 'measured',
        'ml.model': model,
        'ml.phase': 'inference',
      });
    }
    expect(receiver.spans.find(({ traceId }) => traceId === llama.spanContext().traceId)!.attributes['gen_ai.operation.name']).toBe('chat');
  });
});
