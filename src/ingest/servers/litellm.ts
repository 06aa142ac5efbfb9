// LiteLLM proxy (github.com/BerriAI/litellm, litellm/integrations/opentelemetry.py): a gateway. Its
// SERVER span `Received Proxy Server Request` carries the upstream call's gen_ai.request.model,
// gen_ai.system and usage; the model runs at the provider (./gateway.ts).
import type { ServerProfile } from './server-profile.ts';

export const litellm: ServerProfile = {
  server: 'litellm',
  source: 'BerriAI/litellm litellm/integrations/opentelemetry.py',
  matches: ({ serviceName, scopeName }) => serviceName === 'litellm' || scopeName?.startsWith('litellm') === true,
  gateway: true,
  // litellm/types/utils.py CallTypes: LiteLLM writes its call type as the operation.
  operations: new Map([
    ['completion', 'chat'],
    ['acompletion', 'chat'],
    ['text_completion', 'text_completion'],
    ['atext_completion', 'text_completion'],
    ['embedding', 'embeddings'],
    ['aembedding', 'embeddings'],
    ['responses', 'chat'],
    ['aresponses', 'chat'],
  ]),
};
