// SGLang (github.com/sgl-project/sglang), `--enable-trace --otlp-traces-endpoint`: a root span per
// request with gen_ai.response.model and usage at its finish; the generic rules count it.
import type { ServerProfile } from './server-profile.ts';

export const sglang: ServerProfile = {
  server: 'sglang',
  source: 'sgl-project/sglang python/sglang/srt/tracing/trace.py',
  matches: ({ scopeName, serviceName }) => scopeName?.startsWith('sglang') === true || serviceName === 'sglang',
};
