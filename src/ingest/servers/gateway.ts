// Where a request's model runs when a span names its provider. A gateway (LiteLLM) or an app that
// calls a hosted API (OpenAI, Anthropic, Bedrock...) spends none of this node's accelerator energy
// on the model: its request is counted apart (phase `remote`) and takes no device time. A gateway
// in front of a self-hosted server (vLLM, TGI, Ollama) is not a request either: the server's own
// span on its node is, so counting the gateway's too would count one request twice.

/** The attributes that name the provider: GenAI semantic conventions, current then deprecated. */
export const PROVIDER_KEYS = ['gen_ai.provider.name', 'gen_ai.system'] as const;

/**
 * Hosted model APIs: the well-known `gen_ai.provider.name` values of the GenAI semantic conventions
 * (registry/attributes/gen-ai.md), the older `gen_ai.system` values, and LiteLLM's provider names
 * for hosted APIs (litellm/types/utils.py `LlmProviders`), which LiteLLM writes to `gen_ai.system`.
 */
const HOSTED_PROVIDERS: ReadonlySet<string> = new Set([
  // GenAI semantic conventions
  'anthropic',
  'aws.bedrock',
  'azure.ai.inference',
  'azure.ai.openai',
  'cohere',
  'deepseek',
  'gcp.gemini',
  'gcp.gen_ai',
  'gcp.vertex_ai',
  'groq',
  'ibm.watsonx.ai',
  'mistral_ai',
  'openai',
  'perplexity',
  'x_ai',
  // deprecated gen_ai.system values
  'az.ai.inference',
  'az.ai.openai',
  'vertex_ai',
  'gemini',
  'watsonx',
  // LiteLLM provider names of hosted APIs
  'azure',
  'azure_ai',
  'bedrock',
  'vertex_ai_beta',
  'mistral',
  'together_ai',
  'fireworks_ai',
  'openrouter',
  'deepinfra',
  'xai',
  'replicate',
  'anyscale',
  'cerebras',
  'sambanova',
  'sagemaker',
  'databricks',
  'nvidia_nim',
  'cloudflare',
  'ai21',
  'voyage',
]);

/** What a span's provider says of where its model ran: `remote` (a hosted API), `local` (a server of its own), or unknown. */
export type Upstream = 'remote' | 'local' | undefined;

/**
 * Where the model of an entry span runs. A gateway's upstream is hosted unless the provider is
 * known to be self-hosted (vLLM, Ollama, Triton...: LiteLLM's `hosted_vllm`, `vllm`, `ollama`,
 * `triton`, `openai_like`...), which footprint cannot price here only because that
 * server reports its own spans. Any other span runs locally unless its provider is a hosted API.
 */
export function upstreamOf(provider: string | undefined, gateway: boolean): Upstream {
  const name = provider?.toLowerCase();
  if (gateway) return name !== undefined && SELF_HOSTED_PROVIDERS.has(name) ? 'local' : 'remote';
  return name !== undefined && HOSTED_PROVIDERS.has(name) ? 'remote' : undefined;
}

/** LiteLLM's names of self-hosted servers (litellm/types/utils.py `LlmProviders`). */
const SELF_HOSTED_PROVIDERS: ReadonlySet<string> = new Set([
  'hosted_vllm',
  'vllm',
  'ollama',
  'ollama_chat',
  'triton',
  'openai_like',
  'custom_openai',
  'lm_studio',
  'llamafile',
  'xinference',
]);
