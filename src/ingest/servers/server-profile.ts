// What footprint knows of one inference server's spans: how they are recognised, which span of a
// request is the request, which spans are the server's own work or its start-up, and which
// attributes name the model. One file per server in this folder; ./registry.ts lists them.

/**
 * What a span is to the server that sent it, beyond the generic rules of ../spans.ts:
 * - `request`: the request's own span, whatever its kind or parent (TGI's INTERNAL handler span
 *   under a caller's traceparent);
 * - `work`: the server's internal work (a decode step, a shard RPC, a replica hop): never a request,
 *   and nothing below it is one;
 * - `load`: start-up (loading weights, warm-up): an activity in phase `load`, never a request.
 */
export type SpanRole = 'request' | 'work' | 'load';

/** What a profile may judge a span by: read in the one pass over its attributes that every span gets. */
export interface SpanFacts {
  name: string | undefined;
  /** OTLP SpanKind number. */
  kind: number;
  /** `code.namespace` (the Rust module of a tracing span: `text_generation_router::server`). */
  codeNamespace: string | undefined;
}

/** Who sent a batch of spans: the resource's `service.name` and the instrumentation scope's name. */
export interface SpanSender {
  serviceName: string | undefined;
  scopeName: string | undefined;
}

export interface ServerProfile {
  /** The server, as docs/llm-servers.md names it. */
  readonly server: string;
  /** Where the span shape comes from: repository, file and commit. */
  readonly source: string;
  /** Whether spans of this sender come from this server. */
  matches(sender: SpanSender): boolean;
  /** The role of a span; undefined leaves it to the generic rules. */
  roleOf?(span: SpanFacts): SpanRole | undefined;
  /** Span attributes that name the model, tried after ml.model, gen_ai.*.model and llm.model_name. */
  readonly modelKeys?: readonly string[];
  /** Its own `gen_ai.operation.name` values with the GenAI conventions' name for each (LiteLLM's `acompletion` is `chat`). */
  readonly operations?: ReadonlyMap<string, string>;
  /** What to change on this server when its spans are sampled, or name no service: doctor prints it. */
  readonly fixes?: { readonly sampled?: string; readonly unnamed_service?: string };
  /**
   * Its entry spans forward each request to a model server (a gateway such as LiteLLM): the model
   * runs upstream, so the span takes no energy here (../servers/gateway.ts).
   */
  readonly gateway?: boolean;
}
