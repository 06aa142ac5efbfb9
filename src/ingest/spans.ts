// Which OTLP spans become activities, and what each one says: workload, time range, devices, tokens.
import type { Activity, RequestRecord } from '../attribution/activity.ts';
import {
  GEN_AI_MODEL_KEYS,
  WORKLOAD_ATTRIBUTE_KEYS,
  DEVICE_ID_KEY,
  deviceIdsFrom,
  namesWorkload,
  workloadFrom,
  type AttributeLookup,
} from '../attribution/workload-attributes.ts';
import { SpanKind, type AnyValueMessage, type Int64Like, type KeyValueMessage, type SpanMessage, type TraceRequestMessage } from './otlp-schema.ts';

const TOKEN_KEYS = {
  input: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens'],
  output: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens'],
} as const;

/** The only attribute keys read; everything else is skipped while decoding attribute lists. */
const WANTED_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(WORKLOAD_ATTRIBUTE_KEYS),
  ...GEN_AI_MODEL_KEYS,
  DEVICE_ID_KEY,
  ...TOKEN_KEYS.input,
  ...TOKEN_KEYS.output,
]);

/** A token count above this is not believed (and would dominate token weighting). */
const MAX_TOKENS_PER_SPAN = 10_000_000;

export interface SpanLimits {
  /** Spans read from one request; the rest are rejected in partialSuccess. */
  maxSpansPerRequest: number;
  /** Attributes examined per span or resource; later ones are ignored. */
  maxAttributesPerSpan: number;
}

/** A span that counts: the activity for the ledger and the request it was. */
export interface CountedSpan {
  activity: Activity;
  request: RequestRecord;
}

export interface SpanBatch {
  counted: CountedSpan[];
  /** Spans without a usable time range (missing, zero, or ending before they start). */
  invalid: number;
  /** Spans past maxSpansPerRequest. */
  overLimit: number;
  /** Valid spans that are not activities: nested spans, client spans, spans naming no workload. */
  ignored: number;
}

type AttributeValue = string | number | boolean | string[];

function int64ToBigInt(value: Int64Like | undefined): bigint {
  if (value === undefined || value === null) return 0n;
  try {
    return BigInt(typeof value === 'number' ? Math.trunc(value) : value.toString());
  } catch {
    return 0n;
  }
}

/** Allow-listed attributes of a KeyValue list as plain values; arrays only of strings (for hw.id). */
function wantedAttributes(list: KeyValueMessage[] | undefined, limits: SpanLimits): Map<string, AttributeValue> {
  const attributes = new Map<string, AttributeValue>();
  if (!list) return attributes;
  const examined = Math.min(list.length, limits.maxAttributesPerSpan);
  for (let index = 0; index < examined; index++) {
    const { key, value } = list[index]!;
    if (!WANTED_KEYS.has(key) || !value) continue;
    switch (value.value) {
      case 'stringValue':
        attributes.set(key, value.stringValue!);
        break;
      case 'intValue':
        attributes.set(key, Number(int64ToBigInt(value.intValue)));
        break;
      case 'doubleValue':
        attributes.set(key, value.doubleValue!);
        break;
      case 'boolValue':
        attributes.set(key, value.boolValue!);
        break;
      case 'arrayValue': {
        const values = (value.arrayValue as { values?: AnyValueMessage[] }).values ?? [];
        attributes.set(key, values.flatMap((item) => (item.value === 'stringValue' ? [item.stringValue!] : [])));
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

/**
 * Whether a span is the entry of a unit of work in its process, so that the spans nested inside
 * it (and the client spans calling out of it) are not counted a second time: SERVER and CONSUMER
 * spans always; INTERNAL (or unspecified) spans only when they have no parent at all.
 */
function isEntrySpan(span: SpanMessage): boolean {
  const kind = span.kind ?? SpanKind.UNSPECIFIED;
  if (kind === SpanKind.SERVER || kind === SpanKind.CONSUMER) return true;
  const isRoot = !span.parentSpanId || span.parentSpanId.length === 0;
  return isRoot && (kind === SpanKind.INTERNAL || kind === SpanKind.UNSPECIFIED);
}

function nanosToMs(nanos: bigint): number {
  return Number(nanos / 1000n) / 1000;
}

/** Reads a decoded ExportTraceServiceRequest into the spans that count and the tallies of the rest. */
export function readSpans(request: TraceRequestMessage, limits: SpanLimits, weightByTokens: boolean): SpanBatch {
  const batch: SpanBatch = { counted: [], invalid: 0, overLimit: 0, ignored: 0 };
  let seen = 0;
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = wantedAttributes(resourceSpans.resource?.attributes, limits);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        if (++seen > limits.maxSpansPerRequest) {
          batch.overLimit++;
          continue;
        }
        const startNanos = int64ToBigInt(span.startTimeUnixNano);
        const endNanos = int64ToBigInt(span.endTimeUnixNano);
        if (startNanos <= 0n || endNanos < startNanos) {
          batch.invalid++;
          continue;
        }
        if (!isEntrySpan(span)) {
          batch.ignored++;
          continue;
        }
        const attributes = wantedAttributes(span.attributes, limits);
        const sources: AttributeLookup[] = [(key) => attributes.get(key), (key) => resource.get(key)];
        const workload = workloadFrom(sources);
        if (!namesWorkload(workload)) {
          batch.ignored++;
          continue;
        }
        const startMs = nanosToMs(startNanos);
        const endMs = nanosToMs(endNanos);
        const deviceIds = deviceIdsFrom(sources);
        const inputTokens = tokenCount(sources, TOKEN_KEYS.input);
        const outputTokens = tokenCount(sources, TOKEN_KEYS.output);
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
          },
        });
      }
    }
  }
  return batch;
}
