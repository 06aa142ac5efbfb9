// Ray Serve (github.com/ray-project/ray, python/ray/serve/_private/tracing_utils.py): the proxy's
// SERVER `proxy_http_request` -> `proxy_route_to_replica`, then the replica's SERVER
// `replica_handle_request` under the proxy's context. The replica's span is the request (it runs
// the model, and names it: `multiplexed_model_id`, else `deployment`, else `app`); the proxy's
// spans are its routing work.
import type { ServerProfile } from './server-profile.ts';

export const rayServe: ServerProfile = {
  server: 'ray-serve',
  source: 'ray-project/ray python/ray/serve/_private/tracing_utils.py',
  matches: ({ scopeName }) => scopeName?.startsWith('ray.serve') === true,
  roleOf: ({ name }) => (name?.startsWith('proxy_') ? 'work' : undefined),
  modelKeys: ['multiplexed_model_id', 'deployment', 'app'],
  fixes: {
    sampled: "raise the tracing hook's sampling ratio to 1.0 (Ray Serve samples 1% by default) and sample in a Collector for your tracing backend",
    unnamed_service: "set service.name in the tracing hook's TracerProvider resource, or OTEL_SERVICE_NAME on the Serve processes",
  },
};
