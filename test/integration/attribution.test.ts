// End to end: spans from a real OpenTelemetry JS SDK and OTLP/protobuf exporter reach the daemon,
// the ledger splits a constant-power device's joules among models, and a real Prometheus sees
// per-model energy, tokens and grams per token that match the fixture's truth.
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const skip = skipWithoutPromBinaries('prometheus');
const POWER_WATTS = 100;
const INTENSITY = 500;
const DEVICE_ID = '0x6d2a1f0e9b3c4d5e';
const PRICE_PER_KWH = 0.3;
const DEVICE_HOUR_PRICE = 2.4;
const EMBODIED_KG = 1000;
const LIFETIME_YEARS = 4;
const SECONDS_PER_YEAR = 365.25 * 86_400;

describe.skipIf(skip)('attribution from OTLP spans to Prometheus', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      // An amdgpu board: constant power, and one of the host's devices, so it is priced and attributed.
      fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: DEVICE_ID });
    },
    flags: {
      intensity: INTENSITY,
      attributionLag: '4s',
      pricePerKwh: PRICE_PER_KWH,
      deviceHourPrice: { gpu: DEVICE_HOUR_PRICE },
      embodied: [{ match: 'gpu', manufacturingKgCo2e: EMBODIED_KG, lifetimeYears: LIFETIME_YEARS }],
    },
    prometheus: { scrapeIntervalS: 0.5 },
  });

  it('gives each model the joules of its span time and counts its tokens', async () => {
    const { daemon, prometheus } = suite;
    expect((await daemon.scrape()).includes(DEVICE_ID)).toBe(true);
    await sleep(1500);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm', 'ml.job': 'chat-serving' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${daemon.ingestUrl}/v1/traces` }))],
    });
    const tracer = provider.getTracer('test');
    // Both spans lie in the last 1.2 s, already measured and still inside the 4 s attribution lag.
    const nowMs = Date.now();
    const spanA = tracer.startSpan('generate', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1200,
      attributes: { 'ml.model': 'llama-3-8b', 'ml.phase': 'inference', 'hw.id': DEVICE_ID, 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 30 },
    });
    spanA.end(nowMs - 200);
    const spanB = tracer.startSpan('chat', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1100,
      attributes: {
        'gen_ai.request.model': 'mistral-7b',
        'ml.phase': 'inference',
        'hw.id': DEVICE_ID,
        'gen_ai.usage.prompt_tokens': 5,
        'gen_ai.usage.completion_tokens': 15,
      },
    });
    spanB.end(nowMs - 600);
    await provider.forceFlush();
    await provider.shutdown();

    // Overlap [nowMs-1100, nowMs-600) is shared half and half: A gets 0.5 s alone + 0.25 s, B 0.25 s.
    const joules = { 'llama-3-8b': POWER_WATTS * 0.75, 'mistral-7b': POWER_WATTS * 0.25 };
    const byModel = async () => {
      const { result } = await prometheus.query(`sum by (ml_model) (ml_energy_joules_total{hw_id="${DEVICE_ID}",ml_phase="inference"})`);
      const samples = result as { metric: Record<string, string>; value: [number, string] }[];
      return Object.fromEntries(samples.map((sample) => [sample.metric.ml_model, Number(sample.value[1])]));
    };
    // Every interval the spans touch closes 4 s (the lag) after it ends; then Prometheus scrapes.
    const closedAtMs = nowMs + 4000 + 1000;
    const seen = await eventually(async () => (Date.now() > closedAtMs + 1500 ? byModel() : undefined), 20_000, 'intervals closed and scraped');
    expect(seen['llama-3-8b']).toBeCloseTo(joules['llama-3-8b'], 6);
    expect(seen['mistral-7b']).toBeCloseTo(joules['mistral-7b'], 6);

    const tokens = await prometheus.query('sum by (ml_model) (ml_tokens_total)');
    expect(
      Object.fromEntries((tokens.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => [s.metric.ml_model, Number(s.value[1])])),
    ).toEqual({ 'llama-3-8b': 40, 'mistral-7b': 20 });

    const gramsPerToken = await prometheus.query(
      'sum by (ml_model) (ml_emissions_grams_total{carbon_scope="operational"}) / sum by (ml_model) (ml_tokens_total)',
    );
    const perToken = Object.fromEntries(
      (gramsPerToken.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => [s.metric.ml_model, Number(s.value[1])]),
    );
    expect(perToken['llama-3-8b']).toBeCloseTo(((joules['llama-3-8b'] / 3_600_000) * INTENSITY) / 40, 12);

    // Conservation on the device at one scrape: every joule went to a model or idle, or is not settled yet.
    const conserved = await prometheus.query(
      `sum(ml_energy_joules_total{hw_id="${DEVICE_ID}"}) + sum(footprint_attribution_unsettled_energy_joules{hw_id="${DEVICE_ID}"}) - sum(hw_energy_joules_total{hw_id="${DEVICE_ID}"})`,
    );
    expect(Math.abs(Number((conserved.result as { value: [number, string] }[])[0]!.value[1]))).toBeLessThan(1e-6);
    // Embodied CO2e and cost follow the same time share: llama holds the device for 0.75 s.
    const single = async (expr: string) => Number(((await prometheus.query(expr)).result as { value: [number, string] }[])[0]!.value[1]);
    const llamaSeconds = 0.75;
    expect(await single('sum(ml_emissions_grams_total{ml_model="llama-3-8b",carbon_scope="embodied"})')).toBeCloseTo(
      ((EMBODIED_KG * 1000) / (LIFETIME_YEARS * SECONDS_PER_YEAR)) * llamaSeconds,
      12,
    );
    expect(await single('sum(ml_cost_total{ml_model="llama-3-8b",currency="USD"})')).toBeCloseTo(
      (joules['llama-3-8b'] / 3_600_000) * PRICE_PER_KWH + (DEVICE_HOUR_PRICE * llamaSeconds) / 3600,
      12,
    );
    const requests = await prometheus.query('sum(ml_requests_total)');
    expect(Number((requests.result as { value: [number, string] }[])[0]!.value[1])).toBe(2);
  });
});
