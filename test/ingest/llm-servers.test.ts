// The recipes of docs/llm-servers.md: each server's span shape (test/support/llm-span-shapes.ts)
// sent by the real OTel JS exporters (OTLP/gRPC, HTTP protobuf, HTTP JSON) reaches the ingest
// listeners as one request per served request, named by a model, with its tokens.
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Tracer } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { recordFastApiChat, recordOpenInferenceLlm, recordVllmRequest } from '../support/llm-span-shapes.ts';
import { exporterFor, type OtlpProtocol } from '../support/serving-process.ts';

// vLLM's default (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL unset) is gRPC to the endpoint as given.
const PROTOCOLS: OtlpProtocol[] = ['grpc', 'http/protobuf', 'http/json'];

async function send(ingest: IngestHarness, exporter: OtlpProtocol, serviceName: string, record: (tracer: Tracer) => void): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'telemetry.sdk.language': 'python', 'telemetry.sdk.name': 'opentelemetry' }),
    spanProcessors: [new BatchSpanProcessor(exporterFor(exporter, ingest))],
  });
  record(provider.getTracer('recipe'));
  await provider.forceFlush();
  await provider.shutdown();
}

const START_MS = Date.now() - 3000;
const TIMES = { startMs: START_MS, endMs: START_MS + 2500 };

describe.each(PROTOCOLS)('LLM server spans over %s', (exporter) => {
  let ingest: IngestHarness | undefined;
  afterEach(async () => ingest?.close());

  it("vLLM V1 llm_request: no model attribute, so the model is the resource's service.name", async () => {
    ingest = await startIngest();
    await send(ingest, exporter, 'meta-llama/Llama-3.1-8B-Instruct', (tracer) => recordVllmRequest(tracer, TIMES, { prompt: 17, completion: 230 }));
    expect(ingest.sink.requests).toEqual([{ workload: { model: 'meta-llama/Llama-3.1-8B-Instruct' }, ...TIMES, inputTokens: 17, outputTokens: 230 }]);
    expect(ingest.sink.activities).toEqual([
      { source: 'span', senderKey: '127.0.0.1', workload: { model: 'meta-llama/Llama-3.1-8B-Instruct' }, ...TIMES, weight: 1 },
    ]);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 1 });
  });

  it('FastAPI SERVER span around an INTERNAL chat span: the SERVER span time, the chat span model and tokens, counted once', async () => {
    ingest = await startIngest();
    await send(ingest, exporter, 'chat-app', (tracer) => recordFastApiChat(tracer, TIMES, 'Qwen/Qwen2.5-7B-Instruct', { input: 40, output: 12 }));
    expect(ingest.sink.requests).toEqual([{ workload: { model: 'Qwen/Qwen2.5-7B-Instruct' }, ...TIMES, inputTokens: 40, outputTokens: 12, operation: 'chat' }]);
    expect(ingest.sink.activities).toHaveLength(1);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 1, ignored: 1 });
  });

  it('OpenInference LLM span inside a CHAIN span: llm.model_name and llm.token_count.*', async () => {
    ingest = await startIngest();
    await send(ingest, exporter, 'rag-service', (tracer) => recordOpenInferenceLlm(tracer, TIMES, 'gpt-4o-mini', { prompt: 300, completion: 25 }));
    expect(ingest.sink.requests).toEqual([{ workload: { model: 'gpt-4o-mini' }, ...TIMES, inputTokens: 300, outputTokens: 25 }]);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 1, ignored: 1 });
  });
});
