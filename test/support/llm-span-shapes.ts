// The spans real LLM servers and instrumentations export, reproduced with the OTel JS SDK (same
// names, kinds, attribute keys and types, resource), so the recipes in docs/llm-servers.md are
// tested with the shapes they produce. Sources:
// - vLLM V1 `llm_request`: vllm/v1/engine/output_processor.py `OutputProcessor.do_tracing()`
//   (instrument_manual(span_name="llm_request", start_time=arrival_time_ns, kind=SpanKind.SERVER))
//   with the keys of vllm/tracing.py `SpanAttributes`; tracer "vllm.llm_engine"; the resource has
//   only what the SDK sets (service.name from OTEL_SERVICE_NAME). No model attribute at all.
// - FastAPI app: opentelemetry-instrumentation-fastapi's SERVER span `POST /v1/chat/completions`
//   (http.* attributes) around an in-process model call recorded by the GenAI semantic conventions
//   (gen-ai-spans.md: `chat {gen_ai.request.model}`, kind INTERNAL when the model runs in-process;
//   gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model, gen_ai.usage.*_tokens), as
//   opentelemetry-util-genai records it.
// - OpenInference (Arize-ai/openinference spec/semantic_conventions.md): an INTERNAL span with
//   openinference.span.kind=LLM, llm.model_name, llm.provider, llm.token_count.prompt /
//   completion / total; nested in a CHAIN span of the same trace.
import { SpanKind, context, trace, type Context, type Tracer } from '@opentelemetry/api';

/** When a request ran, in epoch milliseconds. */
export interface RequestTimes {
  startMs: number;
  endMs: number;
}

/**
 * vLLM V1: one SERVER span per request from arrival to the last token, as do_tracing() builds it;
 * `caller` is the context of the request's traceparent, when its client sent one.
 */
export function recordVllmRequest(
  tracer: Tracer,
  { startMs, endMs }: RequestTimes,
  tokens: { prompt: number; completion: number },
  caller: Context = context.active(),
): void {
  const e2eSeconds = (endMs - startMs) / 1000;
  const span = tracer.startSpan(
    'llm_request',
    {
      kind: SpanKind.SERVER,
      startTime: startMs,
      attributes: {
        'gen_ai.latency.time_to_first_token': 0.05,
        'gen_ai.latency.e2e': e2eSeconds,
        'gen_ai.latency.time_in_queue': 0.01,
        'gen_ai.usage.prompt_tokens': tokens.prompt,
        'gen_ai.usage.completion_tokens': tokens.completion,
        'gen_ai.latency.time_in_model_prefill': 0.04,
        'gen_ai.latency.time_in_model_decode': e2eSeconds - 0.1,
        'gen_ai.latency.time_in_model_inference': e2eSeconds - 0.06,
        'gen_ai.request.id': 'cmpl-5f1c0b6e2a8d4d3f9c7e1b2a3c4d5e6f',
        'gen_ai.request.top_p': 0.95,
        'gen_ai.request.max_tokens': 512,
        'gen_ai.request.temperature': 0.7,
        'gen_ai.request.n': 1,
      },
    },
    caller,
  );
  span.end(endMs);
}

/** A FastAPI app serving an in-process model: HTTP SERVER span, nested INTERNAL GenAI `chat <model>` span. */
export function recordFastApiChat(tracer: Tracer, { startMs, endMs }: RequestTimes, model: string, tokens: { input: number; output: number }): void {
  const server = tracer.startSpan('POST /v1/chat/completions', {
    kind: SpanKind.SERVER,
    startTime: startMs,
    attributes: {
      'http.request.method': 'POST',
      'url.scheme': 'http',
      'http.route': '/v1/chat/completions',
      'server.address': 'chat-app',
      'network.protocol.version': '1.1',
    },
  });
  const inside = trace.setSpan(context.active(), server);
  const chat = tracer.startSpan(
    `chat ${model}`,
    {
      kind: SpanKind.INTERNAL,
      startTime: startMs + 5,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'huggingface',
        'gen_ai.request.model': model,
        'gen_ai.response.model': model,
        'gen_ai.usage.input_tokens': tokens.input,
        'gen_ai.usage.output_tokens': tokens.output,
        'gen_ai.response.finish_reasons': ['stop'],
      },
    },
    inside,
  );
  chat.end(endMs - 5);
  server.setAttribute('http.response.status_code', 200);
  server.end(endMs);
}

/** OpenInference (LlamaIndex, LangChain, Phoenix): a CHAIN span with a nested LLM span. */
export function recordOpenInferenceLlm(tracer: Tracer, { startMs, endMs }: RequestTimes, model: string, tokens: { prompt: number; completion: number }): void {
  const chain = tracer.startSpan('RetrieverQueryEngine.query', {
    kind: SpanKind.INTERNAL,
    startTime: startMs,
    attributes: { 'openinference.span.kind': 'CHAIN' },
  });
  const inside = trace.setSpan(context.active(), chain);
  const llm = tracer.startSpan(
    'ChatCompletion',
    {
      kind: SpanKind.INTERNAL,
      startTime: startMs + 10,
      attributes: {
        'openinference.span.kind': 'LLM',
        'llm.model_name': model,
        'llm.provider': 'openai',
        'llm.token_count.prompt': tokens.prompt,
        'llm.token_count.completion': tokens.completion,
        'llm.token_count.total': tokens.prompt + tokens.completion,
      },
    },
    inside,
  );
  llm.end(endMs - 10);
  chain.end(endMs);
}
