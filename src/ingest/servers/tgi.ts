// Hugging Face text-generation-inference (github.com/huggingface/text-generation-inference).
// Router: every span is INTERNAL (Rust tracing-opentelemetry); a request is a root span
// (`chat_completions`, `generate`, `generate_stream`, `completions`...) with children `validate`,
// `schedule`, `infer`; each batch step opens its own root trace `batch` -> `prefill`/`decode`,
// which is the server's work for the requests already counted. Shard: a SERVER span per gRPC call
// (`/generate.v3.TextGenerationService/Decode`) under those steps: work; `Warmup` is start-up.
import type { ServerProfile } from './server-profile.ts';

const ROUTER_WORK: ReadonlySet<string> = new Set(['batch', 'prefill', 'decode']);

export const tgiRouter: ServerProfile = {
  server: 'tgi',
  source: 'huggingface/text-generation-inference router/src/infer/mod.rs, router/src/server.rs',
  matches: ({ serviceName }) => serviceName === 'text-generation-inference.router',
  roleOf: (name) => (name !== undefined && ROUTER_WORK.has(name) ? 'work' : undefined),
};

export const tgiShard: ServerProfile = {
  server: 'tgi',
  source: 'huggingface/text-generation-inference server/text_generation_server/server.py, tracing.py',
  matches: ({ serviceName }) => serviceName === 'text-generation-inference.server',
  roleOf: (name) => (name?.endsWith('/Warmup') ? 'load' : 'work'),
};
