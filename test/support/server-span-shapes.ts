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

/**
 * NVIDIA Triton, triton-inference-server/server@e1db8a6 src/tracer.cc (`--trace-config
 * mode=opentelemetry --trace-config level=TIMESTAMPS`; opentelemetry-cpp 1.13's OTLP/HTTP exporter
 * behind a batch processor, so JSON: send it with test/support/otel-cpp-json.ts): resource
 * service.name `triton-inference-server` (set last, so OTEL_SERVICE_NAME cannot change it), tracer
 * `triton-server`, every span SERVER with no status. `InferRequest` (no attributes; the child of the
 * caller's traceparent when one was sent) -> the model's span, named after it, with
 * `triton.model_name` (string), `triton.model_version`, `triton.trace_id`, `triton.trace_parent_id`
 * (ints: Triton's own counters) -> `compute`; the request's timestamps are events
 * (qa/L0_trace/opentelemetry_unittest.py).
 */
export function recordTritonInfer(triton: Tracer, { startMs, endMs }: RequestTimes, model: string, caller: Context = context.active()): void {
  const request = triton.startSpan('InferRequest', { kind: SpanKind.SERVER, startTime: startMs }, caller);
  request.addEvent('HTTP_RECV_START', startMs);
  request.addEvent('HTTP_RECV_END', startMs + 1);
  const modelSpan = triton.startSpan(
    model,
    {
      kind: SpanKind.SERVER,
      startTime: startMs + 1,
      attributes: { 'triton.model_name': model, 'triton.model_version': 1, 'triton.trace_id': 17, 'triton.trace_parent_id': 0 },
    },
    inside(request),
  );
  modelSpan.addEvent('REQUEST_START', startMs + 1);
  modelSpan.addEvent('QUEUE_START', startMs + 2);
  const compute = triton.startSpan('compute', { kind: SpanKind.SERVER, startTime: startMs + 3 }, inside(modelSpan));
  compute.addEvent('COMPUTE_START', startMs + 3);
  compute.addEvent('COMPUTE_INPUT_END', startMs + 4);
  compute.addEvent('COMPUTE_OUTPUT_START', endMs - 3);
  compute.addEvent('COMPUTE_END', endMs - 2);
  compute.end(endMs - 2);
  modelSpan.addEvent('REQUEST_END', endMs - 1);
  modelSpan.end(endMs - 1);
  request.addEvent('INFER_RESPONSE_COMPLETE', endMs - 1);
  request.addEvent('HTTP_SEND_START', endMs - 1);
  request.addEvent('HTTP_SEND_END', endMs);
  request.end(endMs);
}

/**
 * Ray Serve 2.58 (ray/serve/_private/proxy.py, router.py, replica.py; tracer
 * `ray.serve._private.tracing_utils`, no resource: service.name `unknown_service`), every span
 * SERVER with `resource.name` = its name: the proxy's `proxy_http_request {deployment} {method}
 * {path}` (request_id, deployment, app, request_type, request_method, request_route_path,
 * http.status_code as an int) -> `route_to_replica {deployment} {call_method}` in the same process
 * (call_method, route, multiplexed_model_id, is_streaming...) -> the replica's
 * `replica_handle_request {deployment} {call_method}` under the router's propagated context
 * (replica_id, multiplexed_model_id - empty when the app does not multiplex - http.status_code as a
 * string, http.method empty through the proxy).
 */
export function recordRayServeRequest(
  proxy: Tracer,
  replica: Tracer,
  { startMs, endMs }: RequestTimes,
  route: { app: string; deployment: string; multiplexedModelId: string },
  caller: Context = context.active(),
): void {
  const requestId = 'b2c3d4e5-6f70-4182-93a4-b5c6d7e8f901';
  const proxyName = `proxy_http_request ${route.deployment} POST /${route.app}`;
  const http = proxy.startSpan(
    proxyName,
    {
      kind: SpanKind.SERVER,
      startTime: startMs,
      attributes: {
        request_id: requestId,
        deployment: route.deployment,
        app: route.app,
        request_type: 'http',
        request_method: 'POST',
        request_route_path: `/${route.app}`,
        'resource.name': proxyName,
      },
    },
    caller,
  );
  const routing = {
    request_id: requestId,
    deployment: route.deployment,
    app: route.app,
    call_method: '__call__',
    route: `/${route.app}`,
    multiplexed_model_id: route.multiplexedModelId,
    is_streaming: false,
  };
  const routeName = `route_to_replica ${route.deployment} __call__`;
  const toReplica = proxy.startSpan(
    routeName,
    {
      kind: SpanKind.SERVER,
      startTime: startMs + 2,
      attributes: { ...routing, is_http_request: true, is_grpc_request: false, 'http.method': '__call__', 'resource.name': routeName },
    },
    inside(http),
  );
  const handleName = `replica_handle_request ${route.deployment} __call__`;
  const handle = replica.startSpan(
    handleName,
    { kind: SpanKind.SERVER, startTime: startMs + 4, attributes: { ...routing, replica_id: 'llm#LLMServer#a1b2c3', 'resource.name': handleName } },
    remoteChildContext(toReplica),
  );
  handle.setAttributes({ 'http.method': '', 'http.status_code': '200', 'http.route': `/${route.app}` });
  handle.end(endMs - 4);
  toReplica.end(endMs - 2);
  http.setAttribute('http.status_code', 200);
  http.end(endMs);
}

/**
 * LiteLLM proxy, BerriAI/litellm@00145a6c litellm/integrations/opentelemetry.py (`callbacks: ["otel"]`;
 * an OTEL_ENDPOINT makes the exporter `otlp_http`, HTTP protobuf to `<endpoint>/v1/traces`):
 * resource service.name `litellm`, deployment.environment `production`, model_id; tracer `litellm`.
 * The SERVER span `Received Proxy Server Request` opens at auth and ends with the upstream call;
 * with a parent span present no `litellm_request` span is made, so set_attributes writes the call
 * onto it: gen_ai.request.model, gen_ai.system (LiteLLM's provider: `openai`, `hosted_vllm`...),
 * llm.request.type, llm.is_streaming as a string, gen_ai.usage.input/output/total_tokens, and with
 * message logging on (the default) gen_ai.operation.name `acompletion`, gen_ai.request.id and the
 * finish reasons as JSON text; `raw_gen_ai_request` (INTERNAL, `llm.<provider>.*`) below it.
 */
export function recordLiteLlmProxy(
  litellm: Tracer,
  { startMs, endMs }: RequestTimes,
  upstream: { model: string; provider: string; tokens: { prompt: number; completion: number } },
): void {
  const server = litellm.startSpan('Received Proxy Server Request', { kind: SpanKind.SERVER, startTime: startMs });
  const raw = litellm.startSpan(
    'raw_gen_ai_request',
    { startTime: startMs + 3, attributes: { [`llm.${upstream.provider}.model`]: upstream.model, [`llm.${upstream.provider}.stream`]: 'False' } },
    inside(server),
  );
  raw.end(endMs - 2);
  server.setAttributes({
    'metadata.user_api_key_hash': '88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b',
    'metadata.user_api_key_alias': '',
    hidden_params: '{"model_id": "4f0c", "api_base": "http://10.0.3.7:8000/v1", "response_cost": 0.0}',
    'gen_ai.request.model': upstream.model,
    'llm.request.type': 'acompletion',
    'gen_ai.system': upstream.provider,
    'llm.is_streaming': 'False',
    'gen_ai.response.id': 'chatcmpl-6a1f0c2b',
    'gen_ai.response.model': upstream.model,
    'gen_ai.usage.total_tokens': upstream.tokens.prompt + upstream.tokens.completion,
    'gen_ai.usage.output_tokens': upstream.tokens.completion,
    'gen_ai.usage.input_tokens': upstream.tokens.prompt,
    'gen_ai.operation.name': 'acompletion',
    'gen_ai.request.id': '0b1e7c4e-9d5a-4f3e-8a57-2f1c9a7d3e10',
    'gen_ai.response.finish_reasons': '["stop"]',
  });
  server.end(endMs);
}

/**
 * vLLM start-up (PR #31162; vllm/tracing/otel.py `instrument_otel`, tests/tracing/test_loading_tracing.py):
 * INTERNAL spans on tracers named after the instrumented module, with code.* attributes as strings;
 * while one is open its traceparent is in the environment, so the processes it spawns nest their
 * spans under it: the API server's `API server setup` -> `Overall Loading`, the engine core's
 * `Executor init` below that, the worker's `Worker init` -> `Init device`, `Load model` below that.
 * `processes`: the API server's, the engine core's and the worker's tracer providers' tracers are
 * asked for by module name here.
 */
export function recordVllmStartup(apiServer: ServingTracers, engineCore: ServingTracers, worker: ServingTracers, { startMs, endMs }: RequestTimes): void {
  const code = (fn: string, module: string) => ({
    'code.function': fn,
    'code.namespace': module,
    'code.filepath': `${module.replaceAll('.', '/')}.py`,
    'code.lineno': '212',
  });
  const apiModule = 'vllm.entrypoints.openai.api_server';
  const setup = apiServer.tracer(apiModule).startSpan('API server setup', { root: true, startTime: startMs, attributes: code('setup_server', apiModule) });
  const loading = apiServer
    .tracer('vllm.v1.engine.async_llm')
    .startSpan('Overall Loading', { startTime: startMs + 20, attributes: code('AsyncLLM.__init__', 'vllm.v1.engine.async_llm') }, inside(setup));
  const executor = engineCore
    .tracer('vllm.v1.engine.core')
    .startSpan('Executor init', { startTime: startMs + 40, attributes: code('EngineCore.__init__', 'vllm.v1.engine.core') }, remoteChildContext(loading));
  const workerModule = 'vllm.v1.worker.gpu_worker';
  const workerInit = worker
    .tracer(workerModule)
    .startSpan('Worker init', { startTime: startMs + 60, attributes: code('Worker.__init__', workerModule) }, remoteChildContext(executor));
  const device = worker
    .tracer(workerModule)
    .startSpan('Init device', { startTime: startMs + 61, attributes: code('Worker.init_device', workerModule) }, inside(workerInit));
  device.end(startMs + 200);
  const load = worker
    .tracer(workerModule)
    .startSpan('Load model', { startTime: startMs + 200, attributes: code('Worker.load_model', workerModule) }, inside(workerInit));
  load.end(endMs - 30);
  workerInit.end(endMs - 30);
  executor.end(endMs - 20);
  loading.end(endMs - 10);
  setup.end(endMs);
}

/** Something that hands out tracers by instrumentation scope: a serving process. */
interface ServingTracers {
  tracer(scope: string): Tracer;
}
