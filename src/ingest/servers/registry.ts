// The inference servers footprint recognises, in the order they are tried (node_exporter's
// collector registry is the model: one file each, one small interface). A sender no profile
// matches gets the generic rules of ../spans.ts (the OpenTelemetry GenAI conventions, OpenInference).
// A new server is one new file here and one test in test/ingest/servers.test.ts.
import { litellm } from './litellm.ts';
import { rayServe } from './ray-serve.ts';
import type { ServerProfile, SpanSender } from './server-profile.ts';
import { sglang } from './sglang.ts';
import { tensorrtLlm } from './tensorrt-llm.ts';
import { tgi } from './tgi.ts';
import { triton } from './triton.ts';
import { vllm } from './vllm.ts';

const PROFILES: readonly ServerProfile[] = [vllm, sglang, tgi, triton, rayServe, litellm, tensorrtLlm];

/** Every span attribute a profile names models by: the wire reader must decode them. */
export const SERVER_MODEL_KEYS: readonly string[] = [...new Set(PROFILES.flatMap((profile) => profile.modelKeys ?? []))];

/** The profile of a server by its name (doctor's advice). */
export function profileNamed(server: string): ServerProfile | undefined {
  return PROFILES.find((profile) => profile.server === server);
}

/** The profile of the server that sent spans of this resource and scope, if any. */
export function profileFor(sender: SpanSender): ServerProfile | undefined {
  for (const profile of PROFILES) if (profile.matches(sender)) return profile;
  return undefined;
}
