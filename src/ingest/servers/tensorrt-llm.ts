// TensorRT-LLM `trtllm-serve --otlp_traces_endpoint` (github.com/NVIDIA/TensorRT-LLM): a vLLM-derived
// `llm_request` SERVER span per request with GenAI usage and latency attributes; the generic rules
// count it.
import type { ServerProfile } from './server-profile.ts';

export const tensorrtLlm: ServerProfile = {
  server: 'tensorrt-llm',
  source: 'NVIDIA/TensorRT-LLM tensorrt_llm/llmapi/tracing.py',
  matches: ({ scopeName }) => scopeName?.startsWith('tensorrt_llm') === true || scopeName === 'trt.llm',
};
