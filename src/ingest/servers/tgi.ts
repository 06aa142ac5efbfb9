// Hugging Face text-generation-inference (github.com/huggingface/text-generation-inference at
// db931fcf42da018a3657580c64bf2720f167f9ab). The router (Rust, tracing-opentelemetry 0.21, OTLP/gRPC,
// router/src/logging.rs) exports every span as INTERNAL with `code.namespace`; a request is the axum
// handler's span (router/src/server.rs: `generate`, `generate_stream`, `chat_completions`,
// `completions`, `compat_generate`), a root or the child of the caller's traceparent, with no model
// and no token counts. Every batch step opens its own root trace `batch` (backends/v3/src/queue.rs,
// backend.rs) -> `prefill`/`decode` -> the Python shard's SERVER span
// `/generate.v3.TextGenerationService/Decode` (server/text_generation_server/tracing.py): the
// server's work for requests already counted. The launcher gives the shards the router's service
// name; a renamed router (`--otlp-service-name`) is still known by its scope and code.namespace.
import type { ServerProfile, SpanFacts, SpanRole } from './server-profile.ts';

const REQUEST_HANDLERS: ReadonlySet<string> = new Set(['generate', 'generate_stream', 'chat_completions', 'completions', 'compat_generate']);
const HANDLER_NAMESPACE = 'text_generation_router::server';
const ROUTER_NAMESPACE = 'text_generation_router';
/** The shard's gRPC service (proto/v3/generate.proto); `Warmup` runs once at start-up. */
const SHARD_RPC = /^\/generate\.v\d+\.TextGenerationService\/(\w+)$/;
/** Root traces of batch steps, for routers whose spans carry no code.namespace. */
const BATCH_ROOTS: ReadonlySet<string> = new Set(['batch', 'next_batch']);

function roleOf({ name, codeNamespace }: SpanFacts): SpanRole | undefined {
  if (name === undefined) return undefined;
  const rpc = SHARD_RPC.exec(name);
  if (rpc) return rpc[1] === 'Warmup' ? 'load' : 'work';
  if (codeNamespace === undefined) return BATCH_ROOTS.has(name) ? 'work' : undefined;
  if (!codeNamespace.startsWith(ROUTER_NAMESPACE)) return undefined;
  // Everything of the router but the handler span is work done for it (or a batch step, a probe, /tokenize).
  return codeNamespace === HANDLER_NAMESPACE && REQUEST_HANDLERS.has(name) ? 'request' : 'work';
}

export const tgi: ServerProfile = {
  server: 'tgi',
  source:
    'huggingface/text-generation-inference@db931fcf router/src/server.rs, router/src/logging.rs, backends/v3/src/queue.rs, server/text_generation_server/tracing.py',
  // opentelemetry-otlp 0.13's batch pipeline names its tracer `opentelemetry-otlp`: other Rust
  // services share it, so roleOf judges only spans with TGI's module paths or shard RPC names.
  matches: ({ serviceName, scopeName }) =>
    serviceName === 'text-generation-inference.router' || scopeName === 'opentelemetry-otlp' || scopeName?.startsWith('text_generation_server') === true,
  roleOf,
};
