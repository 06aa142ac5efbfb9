// End to end for the LLM-server recipes: vLLM V1's `llm_request` span (no model attribute, only
// service.name) sent by the OTel JS gRPC exporter with default settings to the daemon's OTLP/gRPC
// port, and a FastAPI SERVER span with a nested INTERNAL GenAI span over OTLP/HTTP. Each model
// gets its span seconds x the constant-power device's watts, its tokens and its requests, once.
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Tracer } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { recordFastApiChat, recordVllmRequest } from '../support/llm-span-shapes.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const POWER_WATTS = 100;
const GPU_ID = '0x6d2a1f0e9b3c4d5e';
const LAG_MS = 4000;

/** The sum of every series of `name` whose labels include `labels`. */
function sampleSum(exposition: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function send(exporter: SpanExporter, serviceName: string, record: (tracer: Tracer) => void): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  record(provider.getTracer('recipe'));
  await provider.forceFlush();
  await provider.shutdown();
}

describe('LLM server spans reach a model in the daemon', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: GPU_ID });
    },
    flags: { attributionLag: `${LAG_MS}ms` },
  });

  it('vLLM over gRPC (model = service.name) and FastAPI over HTTP (model from the nested span) get span seconds x watts, tokens and one request each', async () => {
    const { daemon } = suite;
    await sleep(1500);
    const nowMs = Date.now();
    // Two spans that do not overlap, both already measured and inside the attribution lag.
    const vllm = { startMs: nowMs - 1300, endMs: nowMs - 700 };
    const fastApi = { startMs: nowMs - 600, endMs: nowMs - 200 };
    await send(new GrpcExporter({ url: `http://127.0.0.1:${daemon.grpcPort}` }), 'meta-llama/Llama-3.1-8B-Instruct', (tracer) =>
      recordVllmRequest(tracer, vllm, { prompt: 17, completion: 230 }),
    );
    await send(new ProtoExporter({ url: `${daemon.ingestUrl}/v1/traces` }), 'chat-app', (tracer) =>
      recordFastApiChat(tracer, fastApi, 'Qwen/Qwen2.5-7B-Instruct', { input: 40, output: 12 }),
    );

    const closedAtMs = nowMs + LAG_MS + 1000;
    const exposition = await eventually(async () => (Date.now() > closedAtMs ? daemon.scrape() : undefined), 20_000, 'intervals closed');
    const gpuJoules = (model: string) => sampleSum(exposition, 'ml_energy_joules_total', { hw_id: GPU_ID, ml_model: model });
    const vllmExpected = ((vllm.endMs - vllm.startMs) / 1000) * POWER_WATTS;
    const fastApiExpected = ((fastApi.endMs - fastApi.startMs) / 1000) * POWER_WATTS;
    expect(Math.abs(gpuJoules('meta-llama/Llama-3.1-8B-Instruct') - vllmExpected) / vllmExpected).toBeLessThan(0.02);
    // Counted once: the SERVER span's 0.4 s, not 0.4 s plus the nested chat span's 0.39 s.
    expect(Math.abs(gpuJoules('Qwen/Qwen2.5-7B-Instruct') - fastApiExpected) / fastApiExpected).toBeLessThan(0.02);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: 'meta-llama/Llama-3.1-8B-Instruct', gen_ai_token_type: 'input' })).toBe(17);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: 'meta-llama/Llama-3.1-8B-Instruct', gen_ai_token_type: 'output' })).toBe(230);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: 'Qwen/Qwen2.5-7B-Instruct' })).toBe(52);
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: 'meta-llama/Llama-3.1-8B-Instruct' })).toBe(1);
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: 'Qwen/Qwen2.5-7B-Instruct' })).toBe(1);
  });
});
