// vLLM (github.com/vllm-project/vllm). Request: `llm_request`, kind SERVER, one per request from
// arrival to the last token, built by vllm/v1/engine/output_processor.py `do_tracing()` on the
// tracer `vllm.llm_engine` (vllm/tracing.py) with GenAI usage and latency attributes and no model:
// the generic rules count it and name it by the fallback chain. Start-up: the root spans the API
// server and the model loader open before serving are not requests (phase `load`).
import { SpanKind } from '../otlp-schema.ts';
import type { ServerProfile } from './server-profile.ts';

const START_UP_SPANS: ReadonlySet<string> = new Set(['API server setup', 'Overall Loading', 'Load model']);

export const vllm: ServerProfile = {
  server: 'vllm',
  source: 'vllm-project/vllm vllm/v1/engine/output_processor.py, vllm/tracing.py',
  matches: ({ scopeName }) => scopeName !== undefined && scopeName.startsWith('vllm'),
  roleOf: ({ name, kind }) => (kind !== SpanKind.SERVER && name !== undefined && START_UP_SPANS.has(name) ? 'load' : undefined),
};
