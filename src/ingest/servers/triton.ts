// NVIDIA Triton Inference Server (github.com/triton-inference-server/server@e1db8a6, src/tracer.cc),
// `--trace-config mode=opentelemetry --trace-config level=TIMESTAMPS`: opentelemetry-cpp 1.13's
// OTLP/HTTP exporter, so JSON with snake_case keys (../otlp-json.ts reads it); every span SERVER:
// `InferRequest` -> `<model name>` (`triton.model_name`, `triton.model_version`) -> `compute`
// (an ensemble's composing models nest under its span). The request is the `InferRequest` span,
// named by its model span; `compute` is the model's work.
import type { ServerProfile } from './server-profile.ts';

export const triton: ServerProfile = {
  server: 'triton',
  source: 'triton-inference-server/server@e1db8a6 src/tracer.cc; opentelemetry-cpp@v1.13.0 exporters/otlp',
  matches: ({ serviceName }) => serviceName === 'triton-inference-server',
  roleOf: ({ name }) => (name === 'compute' ? 'work' : undefined),
  modelKeys: ['triton.model_name'],
  fixes: { sampled: 'trace every request: tritonserver --trace-config rate=1 (the default traces 1 in 1000)' },
};
