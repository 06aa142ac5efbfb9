// TensorRT-LLM (github.com/NVIDIA/TensorRT-LLM, tensorrt_llm/llmapi/tracing.py at 0fb7f758, "adapted
// from vllm/tracing.py"): `trtllm-serve --otlp_traces_endpoint` traces on the tracer `trt.llm`
// (OTLP/gRPC unless OTEL_EXPORTER_OTLP_TRACES_PROTOCOL says otherwise) with no resource, so
// service.name is `unknown_service` unless OTEL_SERVICE_NAME is set. Its request span is a SERVER
// span with vLLM's GenAI usage and latency keys and no model key: the generic rules count it, and
// the model comes from the pod, OTEL_SERVICE_NAME or the executable.
import type { ServerProfile } from './server-profile.ts';

export const tensorrtLlm: ServerProfile = {
  server: 'tensorrt-llm',
  source: 'NVIDIA/TensorRT-LLM@0fb7f758 tensorrt_llm/llmapi/tracing.py',
  matches: ({ scopeName }) => scopeName === 'trt.llm',
  fixes: { unnamed_service: 'set OTEL_SERVICE_NAME=<model> (or OTEL_RESOURCE_ATTRIBUTES=ml.model=<model>) for trtllm-serve' },
};
