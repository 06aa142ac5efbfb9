// Which OTLP spans become activities, and what each one says: workload, time range, devices, tokens.
import type { Activity, RequestRecord } from '../attribution/activity.ts';
import {
  GEN_AI_MODEL_KEYS,
  WORKLOAD_ATTRIBUTE_KEYS,
  DEVICE_ID_KEY,
  deviceIdsFrom,
  namesWorkload,
  normaliseAttributeValue,
  workloadFrom,
  type AttributeLookup,
} from '../attribution/workload-attributes.ts';
import { SpanKind, type AnyValueMessage, type Int64Like, type KeyValueMessage, type SpanMessage, type TraceRequestMessage } from './otlp-schema.ts';

/** Token counts: GenAI semantic conventions (current, then the older names vLLM sets), then OpenInference. */
const TOKEN_KEYS = {
  input: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt'],
  output: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion'],
} as const;

/** The last fallback for the model: the resource's service name (vLLM's V1 engine names no model on its spans). */
const SERVICE_NAME_KEY = 'service.name';
/** Finds the sending pod in Kubernetes mode (with k8s.namespace.name and k8s.pod.name). */
const POD_UID_KEY = 'k8s.pod.uid';

const OPERATION_KEY = 'gen_ai.operation.name';
/**
 * The well-known `gen_ai.operation.name` values of the GenAI semantic conventions; any other value
 * becomes `other`, so a client cannot mint label values.
 */
const KNOWN_OPERATIONS: ReadonlySet<string> = new Set(['chat', 'text_completion', 'embeddings', 'generate_content', 'execute_tool', 'create_agent', 'invoke_agent']);

/**
 * Attributes that make a span a GenAI request even when nothing names a workload: usage, latency
 * and request id, as vLLM's `llm_request` span carries them; the operation and provider
 * (`gen_ai.provider.name`, formerly `gen_ai.system`) of the GenAI conventions.
 */
const GEN_AI_ACTIVITY_PREFIXES = ['gen_ai.usage.', 'gen_ai.latency.'];
const GEN_AI_ACTIVITY_KEYS: ReadonlySet<string> = new Set([
  'gen_ai.request.id',
  'gen_ai.provider.name',
  'gen_ai.system',
  OPERATION_KEY,
  ...GEN_AI_MODEL_KEYS,
  ...TOKEN_KEYS.input,
  ...TOKEN_KEYS.output,
]);

/** The only attribute keys read; everything else is skipped while decoding attribute lists. */
const WANTED_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(WORKLOAD_ATTRIBUTE_KEYS),
  ...GEN_AI_ACTIVITY_KEYS,
  DEVICE_ID_KEY,
  SERVICE_NAME_KEY,
  POD_UID_KEY,
]);

/** A token count above this is not believed (and would dominate token weighting). */
const MAX_TOKENS_PER_SPAN = 10_000_000;

/** How far past the receiver's clock a span may end: clock skew between hosts, not more. */
export const MAX_FUTURE_SKEW_MS = 60_000;

export interface SpanLimits {
  /** Spans read from one request; the rest are rejected in partialSuccess. */
  maxSpansPerRequest: number;
  /** Attributes examined per span or resource; later ones are ignored. */
  maxAttributesPerSpan: number;
  /** A longer span is invalid (config `maxSpanDuration`). */
  maxSpanDurationMs: number;
}

/** A span that counts: the activity for the ledger and the request it was. */
export interface CountedSpan {
  activity: Activity;
  request: RequestRecord;
}

export interface SpanBatch {
  counted: CountedSpan[];
  /** Spans without a usable time range (missing, out of bounds, or ending before they start). */
  invalid: number;
  /** Why the first invalid span was invalid, for partialSuccess. */
  invalidReason?: string;
  /** Spans past maxSpansPerRequest. */
  overLimit: number;
  /** Valid spans that are not activities: nested spans, client spans, spans naming no workload. */
  ignored: number;
}

type AttributeValue = string | number | boolean | string[];

interface SpanAttributes {
  values: Map<string, AttributeValue>;
  /** Carries a GenAI model, usage, latency or request id attribute itself. */
  genAi: boolean;
}

function int64ToBigInt(value: Int64Like | undefined): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'bigint') return value;
  try {
    return BigInt(typeof value === 'number' ? Math.trunc(value) : value.toString());
  } catch {
    return 0n;
  }
}

function isGenAiKey(key: string): boolean {
  if (GEN_AI_ACTIVITY_KEYS.has(key)) return true;
  // A loop, not .some(): this runs for every attribute of every span.
  for (const prefix of GEN_AI_ACTIVITY_PREFIXES) if (key.startsWith(prefix)) return true;
  return false;
}

/** Whether readSpans looks at an attribute with this key; the wire reader keeps only these. */
export function isExaminedKey(key: string): boolean {
  return WANTED_KEYS.has(key) || isGenAiKey(key);
}

/** Allow-listed attributes of a KeyValue list as plain values; arrays only of strings (for hw.id). */
function wantedAttributes(list: KeyValueMessage[] | undefined, limits: SpanLimits): SpanAttributes {
  const attributes: SpanAttributes = { values: new Map(), genAi: false };
  if (!list) return attributes;
  const examined = Math.min(list.length, limits.maxAttributesPerSpan);
  for (let index = 0; index < examined; index++) {
    const { key, value } = list[index]!;
    if (!value) continue;
    if (isGenAiKey(key)) attributes.genAi = true;
    if (!WANTED_KEYS.has(key)) continue;
    switch (value.value) {
      case 'stringValue':
        attributes.values.set(key, value.stringValue!);
        break;
      case 'intValue':
        attributes.values.set(key, Number(int64ToBigInt(value.intValue)));
        break;
      case 'doubleValue':
        attributes.values.set(key, value.doubleValue!);
        break;
      case 'boolValue':
        attributes.values.set(key, value.boolValue!);
        break;
      case 'arrayValue': {
        const values = (value.arrayValue as { values?: AnyValueMessage[] }).values ?? [];
        attributes.values.set(key, values.flatMap((item) => (item.value === 'stringValue' ? [item.stringValue!] : [])));
        break;
      }
    }
  }
  return attributes;
}

function tokenCount(sources: readonly AttributeLookup[], keys: readonly string[]): number | undefined {
  for (const key of keys) {
    for (const lookup of sources) {
      const raw = lookup(key);
      const count = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= MAX_TOKENS_PER_SPAN) return count;
    }
  }
  return undefined;
}

function operationOf(sources: readonly AttributeLookup[]): string | undefined {
  for (const lookup of sources) {
    const value = normaliseAttributeValue(lookup(OPERATION_KEY));
    if (value !== undefined) return KNOWN_OPERATIONS.has(value) ? value : 'other';
  }
  return undefined;
}

function hasParent(span: SpanMessage): boolean {
  return !!span.parentSpanId && span.parentSpanId.length > 0;
}

/**
 * Whether a span is the entry of a unit of work in its process: SERVER and CONSUMER spans always;
 * INTERNAL (or unspecified) spans only when they have no parent at all. Only entry spans take
 * their workload from the resource, which every span of the process shares.
 */
function isEntrySpan(span: SpanMessage): boolean {
  const kind = span.kind ?? SpanKind.UNSPECIFIED;
  if (kind === SpanKind.SERVER || kind === SpanKind.CONSUMER) return true;
  return !hasParent(span) && (kind === SpanKind.INTERNAL || kind === SpanKind.UNSPECIFIED);
}

/** CLIENT and PRODUCER spans hand work to another process: their energy is spent there. */
function isOutgoing(span: SpanMessage): boolean {
  return span.kind === SpanKind.CLIENT || span.kind === SpanKind.PRODUCER;
}

function nanosToMs(nanos: bigint): number {
  return Number(nanos / 1000n) / 1000;
}

/** Why a span's time range is unusable, or undefined when it is fine. */
function timeRangeProblem(startNanos: bigint, endNanos: bigint, nowMs: number, limits: SpanLimits): string | undefined {
  if (startNanos <= 0n || endNanos <= 0n) return 'a start or end time that is missing or not a positive integer of nanoseconds';
  if (endNanos < startNanos) return 'an end before the start';
  if (endNanos > BigInt(Math.trunc(nowMs + MAX_FUTURE_SKEW_MS)) * 1_000_000n) return `an end more than ${MAX_FUTURE_SKEW_MS / 1000} s in the future`;
  if (endNanos - startNanos > BigInt(limits.maxSpanDurationMs) * 1_000_000n) return `a duration above maxSpanDuration (${limits.maxSpanDurationMs / 1000} s)`;
  return undefined;
}

/** An id's bytes as a string, one char per byte (latin1), read in place; '' when unset. */
function idText(bytes: Uint8Array | undefined): string {
  // An unset bytes field decodes as protobufjs's shared empty array, not a Uint8Array.
  return bytes && bytes.length > 0 ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1') : '';
}

function idKey(traceId: Uint8Array | undefined, spanId: Uint8Array | undefined): string {
  return `${idText(traceId)}/${idText(spanId)}`;
}

interface ValidSpan {
  span: SpanMessage;
  startNanos: bigint;
  endNanos: bigint;
  attributes: SpanAttributes;
  parentKey?: string;
}

/** The model a pod-aware resolver finds for the sender (Kubernetes mode), before `service.name`. */
export type SenderModel = (resource: AttributeLookup, peerAddress: string | undefined) => string | undefined;

export interface ReadSpansOptions {
  limits: SpanLimits;
  weightByTokens: boolean;
  /** The receiver's clock, for the future-skew bound. */
  nowMs: number;
  senderModel?: SenderModel;
  /** The IP address the request came from (for senderModel). */
  peerAddress?: string;
}

/**
 * The topmost span above `span` in this resource and trace, following parents present in the
 * batch and stopping below outgoing spans. Memoised in `tops`; a parent cycle ends the walk.
 */
function topOf(span: ValidSpan, byKey: ReadonlyMap<string, ValidSpan>, tops: Map<ValidSpan, ValidSpan>): ValidSpan {
  // Most spans are their own top (no parent in the batch): no walk, no allocation.
  if (span.parentKey === undefined || !byKey.has(span.parentKey)) return span;
  const path: ValidSpan[] = [];
  const onPath = new Set<ValidSpan>();
  let current = span;
  let top: ValidSpan;
  for (;;) {
    const known = tops.get(current);
    if (known) {
      top = known;
      break;
    }
    const parent = current.parentKey === undefined ? undefined : byKey.get(current.parentKey);
    path.push(current);
    onPath.add(current);
    if (!parent || isOutgoing(parent.span) || onPath.has(parent)) {
      top = current;
      break;
    }
    current = parent;
  }
  for (const visited of path) tops.set(visited, top);
  return top;
}

/**
 * Reads a decoded ExportTraceServiceRequest into the spans that count and the tallies of the rest.
 * Within one resource and trace, the topmost local span above every span that names a workload is
 * the activity, counted once: its time range, and the workload and tokens of itself and then of
 * the spans below it that name one (an HTTP SERVER span around an INTERNAL `chat <model>` span).
 */
export function readSpans(request: TraceRequestMessage, options: ReadSpansOptions): SpanBatch {
  const { limits, weightByTokens, nowMs } = options;
  const batch: SpanBatch = { counted: [], invalid: 0, overLimit: request.spansPastLimit ?? 0, ignored: 0 };
  let seen = 0;
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = wantedAttributes(resourceSpans.resource?.attributes, limits).values;
    const resourceLookup: AttributeLookup = (key) => resource.get(key);
    const resourceNamesWorkload = namesWorkload(workloadFrom([resourceLookup]));

    const valid: ValidSpan[] = [];
    const byKey = new Map<string, ValidSpan>();
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        if (++seen > limits.maxSpansPerRequest) {
          batch.overLimit++;
          continue;
        }
        const startNanos = int64ToBigInt(span.startTimeUnixNano);
        const endNanos = int64ToBigInt(span.endTimeUnixNano);
        const problem = timeRangeProblem(startNanos, endNanos, nowMs, limits);
        if (problem) {
          batch.invalid++;
          batch.invalidReason ??= problem;
          continue;
        }
        const entry: ValidSpan = { span, startNanos, endNanos, attributes: wantedAttributes(span.attributes, limits) };
        if (hasParent(span)) entry.parentKey = idKey(span.traceId, span.parentSpanId);
        valid.push(entry);
        const key = idKey(span.traceId, span.spanId);
        if (!byKey.has(key)) byKey.set(key, entry);
      }
    }

    // Spans that name a workload, grouped under their topmost local span.
    const tops = new Map<ValidSpan, ValidSpan>();
    const namersByTop = new Map<ValidSpan, ValidSpan[]>();
    for (const entry of valid) {
      if (isOutgoing(entry.span)) continue;
      const own = entry.attributes;
      const namesItself = own.genAi || namesWorkload(workloadFrom([(key) => own.values.get(key)]));
      const orphan = entry.parentKey !== undefined && !byKey.has(entry.parentKey);
      // A nested span whose parent is in another batch counts only for GenAI attributes of its own:
      // ml.* copied from baggage onto every span would otherwise count it besides its entry span.
      const names = isEntrySpan(entry.span) ? namesItself || resourceNamesWorkload : orphan ? own.genAi : namesItself;
      if (!names) continue;
      const top = topOf(entry, byKey, tops);
      const namers = namersByTop.get(top);
      if (namers) namers.push(entry);
      else namersByTop.set(top, [entry]);
    }
    batch.ignored += valid.length - namersByTop.size;

    for (const [top, namers] of namersByTop) {
      const spanSources: AttributeLookup[] = [top, ...namers.filter((namer) => namer !== top)].map(({ attributes }) => (key) => attributes.values.get(key));
      const sources = [...spanSources, resourceLookup];
      const workload = workloadFrom(sources);
      workload.model ??= options.senderModel?.(resourceLookup, options.peerAddress) ?? normaliseAttributeValue(resource.get(SERVICE_NAME_KEY));
      if (workload.model === undefined) delete workload.model;
      const startMs = nanosToMs(top.startNanos);
      const endMs = nanosToMs(top.endNanos);
      const deviceIds = deviceIdsFrom(sources);
      const inputTokens = tokenCount(sources, TOKEN_KEYS.input);
      const outputTokens = tokenCount(sources, TOKEN_KEYS.output);
      const operation = operationOf(sources);
      // Weighting by tokens: a span without token counts still weighs 1 so it is not erased.
      const weight = weightByTokens ? Math.max(1, (inputTokens ?? 0) + (outputTokens ?? 0)) : 1;
      batch.counted.push({
        activity: { source: 'span', workload, startMs, endMs, ...(deviceIds && { deviceIds }), weight },
        request: {
          workload,
          startMs,
          endMs,
          ...(inputTokens !== undefined && { inputTokens }),
          ...(outputTokens !== undefined && { outputTokens }),
          ...(deviceIds && { deviceIds }),
          ...(operation !== undefined && { operation }),
        },
      });
    }
  }
  return batch;
}
