// The spans inference servers export as they ship, reproduced with the OTel JS SDK (names, kinds,
// parents, attribute keys and value types, resource and instrumentation scope), so the rules of
// src/ingest/servers and the recipes of docs/llm-servers.md are tested against the servers' own
// shapes. Each server's sources are cited above its function. Spans another process exports (a
// shard, a replica) take their parent as a remote context, as W3C propagation gives it.
import { context, SpanKind, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { RequestTimes } from './llm-span-shapes.ts';

/** The context a server extracts from a caller's `traceparent`. */
export function callerContext(traceId: string, spanId: string): Context {
  return trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: 1, isRemote: true });
}

/** A child context of `parent`, as a remote process gets it from `traceparent`. */
function remoteChildContext(parent: Span): Context {
  return trace.setSpanContext(context.active(), { ...parent.spanContext(), isRemote: true });
}

function inside(parent: Span): Context {
  return trace.setSpan(context.active(), parent);
}

/** Rust `Duration` as `format!("{:?}")` writes it: `1.234s`, `61.5ms`. */
function rustDuration(seconds: number): string {
  return seconds >= 1 ? `${seconds}s` : `${(seconds * 1000).toFixed(1)}ms`;
}

/** The attributes tracing-opentelemetry 0.21 adds to every span (src/layer.rs: location, threads, inactivity). */
function rustSpanAttributes(namespace: string, file: string, line: number) {
  return { 'code.filepath': file, 'code.namespace': namespace, 'code.lineno': line, 'thread.id': 7, 'thread.name': 'tokio-runtime-worker' };
}

/**
 * Hugging Face TGI, huggingface/text-generation-inference@db931fcf42da018a3657580c64bf2720f167f9ab.
 * Router (`router`: service.name `text-generation-inference.router` and nothing else in the
 * resource, router/src/logging.rs; tracer `opentelemetry-otlp`): every span INTERNAL; the handler
 * span (router/src/server.rs `chat_completions`, string fields recorded at the end) -> `generate` ->
 * `generate_stream` -> `validate` / `schedule` -> `infer`. Each batch step is its own root trace
 * `batch` (backends/v3/src/backend.rs; `batch_size` a string, as u64 fields are in 0.21) ->
 * `decode` -> the grpc client's `decode` -> the shard's SERVER span
 * `/generate.v3.TextGenerationService/Decode` (`shard`, Python, server/text_generation_server/tracing.py:
 * rpc.* attributes, net.transport unix) -> `generate_token`. `steps` decode steps run inside the request.
 * `caller`: the context of a caller's `traceparent` (router/src/logging.rs trace_context_middleware).
 */
export function recordTgiChat(router: Tracer, shard: Tracer, { startMs, endMs }: RequestTimes, steps = 3, caller: Context = context.active()): void {
  const seconds = (endMs - startMs) / 1000;
  const handler = router.startSpan(
    'chat_completions',
    {
      kind: SpanKind.INTERNAL,
      startTime: startMs,
      attributes: {
        ...rustSpanAttributes('text_generation_router::server', 'router/src/server.rs', 1156),
        parameters: 'GenerateParameters { adapter_id: None, best_of: None, temperature: Some(0.7), max_new_tokens: Some(64), seed: None, .. }',
      },
    },
    caller,
  );
  const generate = router.startSpan(
    'generate',
    { startTime: startMs + 1, attributes: rustSpanAttributes('text_generation_router::infer', 'router/src/infer/mod.rs', 244) },
    inside(handler),
  );
  const stream = router.startSpan(
    'generate_stream',
    { startTime: startMs + 1, attributes: rustSpanAttributes('text_generation_router::infer', 'router/src/infer/mod.rs', 99) },
    inside(generate),
  );
  const validate = router.startSpan(
    'validate',
    { startTime: startMs + 1, attributes: rustSpanAttributes('text_generation_router::validation', 'router/src/validation.rs', 203) },
    inside(stream),
  );
  validate.end(startMs + 3);
  const schedule = router.startSpan(
    'schedule',
    { startTime: startMs + 3, attributes: rustSpanAttributes('text_generation_router_v3::backend', 'backends/v3/src/backend.rs', 78) },
    inside(stream),
  );
  const stepMs = (endMs - startMs - 10) / steps;
  for (let step = 0; step < steps; step++) {
    const stepStartMs = startMs + 5 + step * stepMs;
    const infer = router.startSpan(
      'infer',
      { startTime: stepStartMs, attributes: rustSpanAttributes('text_generation_router_v3::queue', 'backends/v3/src/queue.rs', 427) },
      inside(schedule),
    );
    const batch = router.startSpan(
      'batch',
      {
        root: true,
        startTime: stepStartMs,
        attributes: { ...rustSpanAttributes('text_generation_router_v3::backend', 'backends/v3/src/backend.rs', 273), batch_size: '1' },
        links: [{ context: infer.spanContext() }],
      },
      context.active(),
    );
    const phase = step === 0 ? 'prefill' : 'decode';
    const method = step === 0 ? 'Prefill' : 'Decode';
    const backendStep = router.startSpan(
      phase,
      { startTime: stepStartMs, attributes: rustSpanAttributes('text_generation_router_v3::backend', 'backends/v3/src/backend.rs', 296) },
      inside(batch),
    );
    const client = router.startSpan(
      phase,
      {
        startTime: stepStartMs,
        attributes: { ...rustSpanAttributes('text_generation_router_v3::client::grpc_client', 'backends/v3/src/client/grpc_client.rs', 257), size: '1' },
      },
      inside(backendStep),
    );
    const rpc = shard.startSpan(
      `/generate.v3.TextGenerationService/${method}`,
      {
        kind: SpanKind.SERVER,
        startTime: stepStartMs + 1,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.grpc.status_code': 0,
          'rpc.method': method,
          'rpc.service': 'generate.v3.TextGenerationService',
          'rpc.user_agent': 'tonic/0.10.2',
          'net.transport': 'unix',
        },
      },
      remoteChildContext(client),
    );
    const token = shard.startSpan('generate_token', { startTime: stepStartMs + 2 }, inside(rpc));
    const stepEndMs = stepStartMs + stepMs;
    token.end(stepEndMs - 2);
    rpc.end(stepEndMs - 1);
    client.end(stepEndMs);
    backendStep.end(stepEndMs);
    batch.end(stepEndMs);
    infer.end(stepEndMs);
  }
  schedule.end(endMs - 3);
  stream.end(endMs - 2);
  generate.end(endMs - 1);
  handler.setAttributes({
    total_time: rustDuration(seconds),
    validation_time: '352.1µs',
    queue_time: '41.2µs',
    inference_time: rustDuration(seconds - 0.004),
    time_per_token: rustDuration(seconds / 64),
    seed: 'None',
    busy_ns: 1_250_000,
    idle_ns: Math.round(seconds * 1e9),
  });
  handler.addEvent('Success', { level: 'INFO', target: 'text_generation_router::server' });
  handler.end(endMs);
}

/**
 * SGLang, sgl-project/sglang python/sglang/srt/observability/trace.py (stored commit 02a58088):
 * service.name `sglang`, tracer `sglang server`, every span INTERNAL with explicit times. The root
 * ` Req <rid[:8]>` (unified mode: empty role, so a leading space) in the tokenizer process, with
 * `rid` and `module` at start and, at finish, the GenAI attributes of
 * managers/tokenizer_manager_components/request_tracing.py (response model, prompt/completion/cached
 * tokens as ints, latencies as doubles, finish reasons as a JSON string). The scheduler process's
 * thread span `Scheduler [TP 0] (host:… | pid:…)` and its slices hang below the root as a remote
 * child (`scheduler`: another process, another export).
 */
export function recordSglangRequest(
  tokenizer: Tracer,
  scheduler: Tracer,
  { startMs, endMs }: RequestTimes,
  model: string,
  tokens: { prompt: number; completion: number },
): void {
  const rid = '9f86d081884c7d659a2feaa0c55ad015';
  const seconds = (endMs - startMs) / 1000;
  const root = tokenizer.startSpan(` Req ${rid.slice(0, 8)}`, { startTime: startMs, attributes: { rid, module: 'sglang::request' } });
  const tokenizerThread = tokenizer.startSpan(
    'Tokenizer (host:3f2a9c1b | pid:4121)',
    { startTime: startMs, attributes: { host_id: '3f2a9c1b5d7e4a60', pid: 4121, thread_label: 'Tokenizer' } },
    inside(root),
  );
  const tokenize = tokenizer.startSpan('tokenize', { startTime: startMs }, inside(tokenizerThread));
  tokenize.end(startMs + 2);
  tokenizerThread.end(startMs + 3);
  const thread = scheduler.startSpan(
    'Scheduler [TP 0] (host:3f2a9c1b | pid:4188)',
    { startTime: startMs + 3, attributes: { host_id: '3f2a9c1b5d7e4a60', pid: 4188, thread_label: 'Scheduler', tp_rank: 0 } },
    remoteChildContext(root),
  );
  const prefill = scheduler.startSpan('prefill_forward', { startTime: startMs + 5 }, inside(thread));
  prefill.end(startMs + 40);
  const decode = scheduler.startSpan('decode_forward', { startTime: startMs + 40 }, inside(thread));
  for (let step = 0; step < 3; step++) {
    const loop = scheduler.startSpan('decode_loop', { startTime: startMs + 40 + step * 10, attributes: { decode_ct: step + 1 } }, inside(decode));
    loop.end(startMs + 50 + step * 10);
  }
  decode.end(endMs - 2);
  thread.end(endMs - 1);
  root.setAttributes({
    'gen_ai.usage.prompt_tokens': tokens.prompt,
    'gen_ai.usage.completion_tokens': tokens.completion,
    'gen_ai.usage.cached_tokens': 0,
    'gen_ai.request.id': rid,
    'gen_ai.request.max_tokens': 128,
    'gen_ai.request.top_p': 0.95,
    'gen_ai.response.model': model,
    'gen_ai.response.finish_reasons': '["stop"]',
    'gen_ai.latency.time_to_first_token': 0.04,
    'gen_ai.latency.e2e': seconds,
    'gen_ai.latency.time_in_model_prefill': 0.035,
    'gen_ai.latency.time_in_model_decode': seconds - 0.04,
    'gen_ai.latency.time_in_model_inference': seconds - 0.005,
  });
  root.end(endMs);
}
