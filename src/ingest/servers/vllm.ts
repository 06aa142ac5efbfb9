// vLLM (github.com/vllm-project/vllm). Request: `llm_request`, kind SERVER, one per request from
// arrival to the last token (vllm/v1/engine/output_processor.py `do_tracing()` at d0782260), with
// GenAI usage and latency attributes and no model: the generic rules count it and name it by the
// fallback chain. Its tracer is `vllm.llm_engine` (older) or `vllm.tracing.otel` (vllm/tracing/otel.py).
// Start-up (PR #31162, `@instrument` in vllm/tracing/otel.py): INTERNAL spans on tracers named after
// the instrumented module, nested across the API server, engine core and worker processes through
// a `traceparent` in the environment; they load the model and serve no request (phase `load`).
import { SpanKind } from '../otlp-schema.ts';
import type { ServerProfile } from './server-profile.ts';

const START_UP_SPANS: ReadonlySet<string> = new Set([
  'API server setup',
  'Overall Loading',
  'Executor init',
  'Prepare model',
  'Worker init',
  'Init device',
  'Load model',
]);

export const vllm: ServerProfile = {
  server: 'vllm',
  source: 'vllm-project/vllm@d0782260 vllm/v1/engine/output_processor.py; vllm/tracing/otel.py (40eeb0c5), tests/tracing/test_loading_tracing.py',
  matches: ({ scopeName }) => scopeName?.startsWith('vllm') === true,
  roleOf: ({ name, kind }) => (kind !== SpanKind.SERVER && name !== undefined && START_UP_SPANS.has(name) ? 'load' : undefined),
};
