// SGLang (github.com/sgl-project/sglang, python/sglang/srt/observability/trace.py at 02a58088),
// `--enable-trace --otlp-traces-endpoint host:4317` (OTLP/gRPC): service.name `sglang`, tracer
// `sglang server`, every span INTERNAL. A request is the root `<role> Req <rid[:8]>` (role empty in
// unified mode, so ` Req 9f86d081`; `prefill`/`decode` in PD mode), the child of the caller's
// traceparent when one was sent, with gen_ai.response.model and usage set at its finish
// (managers/tokenizer_manager_components/request_tracing.py). Below it, each process's thread span
// (`Scheduler [TP 0] (host:… | pid:…)`) and its slices (`prefill_forward`, `decode_loop`...) are
// the server's work, exported by other processes.
import type { ServerProfile } from './server-profile.ts';

const REQUEST_SPAN = /^\w* ?Req \S+$/;

export const sglang: ServerProfile = {
  server: 'sglang',
  source: 'sgl-project/sglang@02a58088 python/sglang/srt/observability/trace.py',
  matches: ({ scopeName, serviceName }) => scopeName === 'sglang server' || serviceName === 'sglang',
  roleOf: ({ name }) => (name !== undefined && REQUEST_SPAN.test(name) ? 'request' : 'work'),
};
