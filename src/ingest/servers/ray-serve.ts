// Ray Serve (github.com/ray-project/ray, ray 2.58: python/ray/serve/_private/proxy.py, router.py,
// replica.py, tracing_utils.py), every span SERVER: the proxy's `proxy_http_request {deployment}
// {method} {path}` -> `route_to_replica {deployment} {call_method}`, then the replica's
// `replica_handle_request {deployment} {call_method}` under the router's propagated context. The
// replica's span is the request (it runs the model, and names it: `multiplexed_model_id`, else
// `deployment`, else `app`); the proxy's spans are its routing work. A deployment that calls
// another (model composition) makes a request of each, as each replica runs its own work.
import type { ServerProfile } from './server-profile.ts';

export const rayServe: ServerProfile = {
  server: 'ray-serve',
  source: 'ray-project/ray 2.58.0 python/ray/serve/_private/proxy.py, router.py, replica.py, tracing_utils.py',
  matches: ({ scopeName }) => scopeName?.startsWith('ray.serve') === true,
  roleOf: ({ name }) => {
    if (name === undefined) return undefined;
    if (name.startsWith('replica_handle_request')) return 'request';
    return name.startsWith('proxy_') || name.startsWith('route_to_replica') ? 'work' : undefined;
  },
  modelKeys: ['multiplexed_model_id', 'deployment', 'app'],
  fixes: {
    sampled: "raise the tracing hook's sampling ratio to 1.0 (Ray Serve samples 1% by default) and sample in a Collector for your tracing backend",
    unnamed_service: "set service.name in the tracing hook's TracerProvider resource, or OTEL_SERVICE_NAME on the Serve processes",
  },
};
