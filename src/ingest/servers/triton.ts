// NVIDIA Triton Inference Server (github.com/triton-inference-server/server, src/tracer.cc),
// `--trace-config mode=opentelemetry`: SERVER `InferRequest` -> SERVER `<model name>`
// (`triton.model_name`, `triton.model_version`) -> SERVER `compute`. The request is the
// `InferRequest` span, named by its model span; `compute` is the model's work.
import type { ServerProfile } from './server-profile.ts';

export const triton: ServerProfile = {
  server: 'triton',
  source: 'triton-inference-server/server src/tracer.cc',
  matches: ({ serviceName }) => serviceName === 'triton-inference-server',
  roleOf: ({ name }) => (name === 'compute' ? 'work' : undefined),
  modelKeys: ['triton.model_name'],
  fixes: { sampled: 'trace every request: tritonserver --trace-config rate=1 (the default traces 1 in 1000)' },
};
