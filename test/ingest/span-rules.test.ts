// The generic rules of src/ingest/spans.ts that hold for every sender, whatever server it is:
// sampling told by the W3C tracestate, services left at the SDK's default name, and apps that call
// a model (a CLIENT GenAI span, as opentelemetry-instrumentation-openai records one) are clients of
// it, not the place its energy is spent.
import { SpanKind, context, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import type { SenderAdvisory } from '../../src/ingest/spans.ts';
import { sampledBelowFull } from '../../src/ingest/spans.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { ServingProcess } from '../support/serving-process.ts';

const START_MS = Date.now() - 3000;
const TIMES = { startMs: START_MS, endMs: START_MS + 1000 };

let ingest: IngestHarness | undefined;
afterEach(async () => {
  await ingest?.close();
  ingest = undefined;
});

describe('sampledBelowFull (OTel TraceState probability sampling: ot=th:<hex threshold>)', () => {
  it.each([
    ['', false],
    ['ot=th:0', false],
    ['ot=th:8', true],
    ['ot=rv:0123456789abcd;th:fd70a4', true],
    ['vendor=a,ot=p:8;th:c', true],
    ['ot=p:8', false],
    ['other=th:8', false],
  ])('%j -> %s', (traceState, sampled) => expect(sampledBelowFull(traceState)).toBe(sampled));
});

describe('generic span rules', () => {
  it('reports sampled spans and services at the SDK default, and names unknown_service:<exe> by the executable', async () => {
    const advisories: SenderAdvisory[] = [];
    ingest = await startIngest({ onAdvisory: (advisory) => advisories.push(advisory) });
    const serving = new ServingProcess('http/protobuf', ingest, { 'service.name': 'unknown_service:python3.11', 'process.executable.name': 'python3.11' });
    const tracer = serving.tracer('app');
    // A span kept at probability 1/2 (threshold 8 of 16: the OTel consistent probability sampler's tracestate).
    const sampledParent = trace.setSpanContext(context.active(), {
      traceId: '7bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '30f067aa0ba902b7',
      traceFlags: 1,
      isRemote: true,
      traceState: { get: (key: string) => (key === 'ot' ? 'th:8' : undefined), set: () => undefined!, unset: () => undefined!, serialize: () => 'ot=th:8' },
    } as never);
    tracer.startSpan('POST /generate', { kind: SpanKind.SERVER, startTime: TIMES.startMs }, sampledParent).end(TIMES.endMs);
    await serving.close();
    expect(ingest.sink.requests).toEqual([{ workload: { model: 'python3.11' }, ...TIMES }]);
    expect(advisories).toEqual([
      { server: 'other', advisory: 'sampled', spans: 1 },
      { server: 'other', advisory: 'unnamed_service', spans: 1 },
    ]);
  });

  it('an app calling a hosted model makes a remote request under it; calling a model server of its own, nothing (the server counts)', async () => {
    ingest = await startIngest();
    const serving = new ServingProcess('http/protobuf', ingest, { 'service.name': 'support-bot' });
    const tracer = serving.tracer('opentelemetry.instrumentation.fastapi');
    const call = (provider: string, model: string) => {
      const server = tracer.startSpan('POST /ask', { kind: SpanKind.SERVER, startTime: TIMES.startMs });
      // opentelemetry-instrumentation-openai-v2: CLIENT `chat {model}` with the GenAI attributes.
      tracer
        .startSpan(
          `chat ${model}`,
          {
            kind: SpanKind.CLIENT,
            startTime: TIMES.startMs + 10,
            attributes: {
              'gen_ai.operation.name': 'chat',
              'gen_ai.system': provider,
              'gen_ai.request.model': model,
              'gen_ai.usage.input_tokens': 12,
              'gen_ai.usage.output_tokens': 3,
            },
          },
          trace.setSpan(context.active(), server),
        )
        .end(TIMES.endMs - 10);
      server.end(TIMES.endMs);
    };
    call('openai', 'gpt-4o');
    call('vllm', 'meta-llama/Llama-3.1-8B-Instruct');
    await serving.close();
    expect(ingest.sink.requests).toEqual([
      { workload: { model: 'gpt-4o', phase: 'remote' }, ...TIMES, inputTokens: 12, outputTokens: 3, operation: 'chat', deviceIds: [] },
    ]);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 1, ignored: 3 });
  });
});
