// A lean reader of OTLP ExportTraceServiceRequest bytes over protobufjs's Reader: it materialises
// only what spans.ts reads (resource attributes, scope names, span ids, names, trace states, kind, times, the first
// maxAttributesPerSpan attributes whose keys are examined) and walks the rest of the message
// without building objects. It checks everything protobufjs's generated decoder checks (tags,
// lengths, wire types of known fields, UTF-8 of every string, group ends, the recursion limit),
// so a body is refused exactly when ExportTraceServiceRequest.decode refuses it; the differential
// test in test/ingest/otlp-wire.test.ts holds the two to the same SpanBatch.
//
// Chunked, not a worker thread: measured on 2 cores, a 3.8 MB body of 1.9M empty spans is walked
// in 39-70 ms with at most 7-12 ms between two turns of the event loop (docs/benchmarks.md), and a
// 1 000-span body in about 1 ms, less than a worker would spend having the body copied over and
// the spans cloned back for each request.
import { isUtf8 } from 'node:buffer';
import protobuf from 'protobufjs';
import {
  OtlpDecodeError,
  type AnyValueMessage,
  type KeyValueMessage,
  type ResourceSpansMessage,
  type ScopeSpansMessage,
  type SpanMessage,
  type TraceRequestMessage,
} from './otlp-schema.ts';
import { EXAMINED_KEY_PREFIXES, EXAMINED_KEYS, type SpanLimits } from './spans.ts';

type Reader = protobuf.Reader;
const { Reader } = protobuf;

/** Bytes walked between two yields to the event loop. */
const CHUNK_BYTES = 64 * 1024;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

/** How a field the schema knows is read when it is only checked. */
type FieldKind = 'varint' | 'int64' | 'fixed32' | 'fixed64' | 'string' | 'bytes' | Schema;
type Schema = Map<number, FieldKind>;

/** The schema of the messages below the ones read into objects, as in ./proto. */
const ANY_VALUE: Schema = new Map();
const KEY_VALUE: Schema = new Map<number, FieldKind>([
  [1, 'string'],
  [2, ANY_VALUE],
]);
const ARRAY_VALUE: Schema = new Map([[1, ANY_VALUE]]);
const KEY_VALUE_LIST: Schema = new Map([[1, KEY_VALUE]]);
for (const [field, kind] of [
  [1, 'string'],
  [2, 'varint'],
  [3, 'int64'],
  [4, 'fixed64'],
  [5, ARRAY_VALUE],
  [6, KEY_VALUE_LIST],
  [7, 'bytes'],
] as const)
  ANY_VALUE.set(field, kind);
const SCOPE: Schema = new Map<number, FieldKind>([
  [1, 'string'],
  [2, 'string'],
  [3, KEY_VALUE],
  [4, 'varint'],
]);
const STATUS: Schema = new Map<number, FieldKind>([
  [2, 'string'],
  [3, 'varint'],
]);
const SPAN: Schema = new Map<number, FieldKind>([
  [1, 'bytes'],
  [2, 'bytes'],
  [3, 'string'],
  [4, 'bytes'],
  [5, 'string'],
  [6, 'varint'],
  [7, 'fixed64'],
  [8, 'fixed64'],
  [9, KEY_VALUE],
  [10, 'varint'],
  [12, 'varint'],
  [14, 'varint'],
  [15, STATUS],
  [16, 'fixed32'],
]);

function wireTypeOf(kind: FieldKind): number {
  if (typeof kind !== 'string') return WIRE_LENGTH;
  if (kind === 'varint' || kind === 'int64') return WIRE_VARINT;
  if (kind === 'fixed64') return WIRE_FIXED64;
  if (kind === 'fixed32') return WIRE_FIXED32;
  return WIRE_LENGTH;
}

/** Narrows the reader to the length-delimited message at its position; returns the outer end. */
function enter(reader: Reader, depth: number): number {
  const length = reader.size();
  if (depth > Reader.recursionLimit) throw Error('max depth exceeded');
  const end = reader.pos + length;
  if (end > reader.len) throw RangeError('index out of range');
  const outerEnd = reader.len;
  reader.len = end;
  return outerEnd;
}

function leave(reader: Reader, outerEnd: number): void {
  reader.len = outerEnd;
}

/** Strings up to this many bytes are checked byte by byte for ASCII first: no view of the buffer is made. */
const ASCII_SCAN_MAX_BYTES = 256;

/** Whether bytes [start, end) are valid UTF-8: ASCII (most keys and model names) without allocating. */
function validUtf8(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start <= ASCII_SCAN_MAX_BYTES) {
    let index = start;
    while (index < end && buf[index]! < 0x80) index++;
    if (index === end) return true;
  }
  return isUtf8(buf.subarray(start, end));
}

/** Checks a proto3 string (UTF-8 required) without making it; returns where it starts. */
function checkString(reader: Reader): number {
  const length = reader.size();
  const start = reader.pos;
  const end = start + length;
  if (end > reader.len) throw RangeError('index out of range');
  if (!validUtf8(reader.buf, start, end)) throw Error('invalid UTF-8');
  reader.pos = end;
  return start;
}

/** A proto3 string, refused unless valid UTF-8, decoded natively (protobufjs's readStrict decodes in JavaScript). */
function readString(reader: Reader): string {
  const start = checkString(reader);
  return (reader.buf as Buffer).toString('utf8', start, reader.pos);
}

/** The examined keys as UTF-8 bytes, by byte length: a key is compared as bytes before any string is made. */
const EXAMINED_KEYS_BY_LENGTH = new Map<number, { bytes: Uint8Array; key: string }[]>();
for (const key of EXAMINED_KEYS) {
  const bytes = Buffer.from(key, 'utf8');
  const sameLength = EXAMINED_KEYS_BY_LENGTH.get(bytes.length) ?? [];
  sameLength.push({ bytes, key });
  EXAMINED_KEYS_BY_LENGTH.set(bytes.length, sameLength);
}
const EXAMINED_PREFIX_BYTES = EXAMINED_KEY_PREFIXES.map((prefix) => Buffer.from(prefix, 'utf8'));

function bytesAt(buf: Uint8Array, start: number, bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) if (buf[start + index] !== bytes[index]) return false;
  return true;
}

/**
 * An attribute key, checked as checkString does, made into a string only when spans.ts examines it
 * (an allow-listed key, or one under an examined prefix); undefined for any other key. Most keys
 * of a span are matched against the allow-list as bytes and never decoded.
 */
function readExaminedKey(reader: Reader): string | undefined {
  const length = reader.size();
  const start = reader.pos;
  const end = start + length;
  if (end > reader.len) throw RangeError('index out of range');
  const buf = reader.buf;
  const sameLength = EXAMINED_KEYS_BY_LENGTH.get(length);
  if (sameLength !== undefined) {
    for (const { bytes, key } of sameLength) {
      // Equal to an ASCII key: valid UTF-8 without checking.
      if (bytesAt(buf, start, bytes)) {
        reader.pos = end;
        return key;
      }
    }
  }
  if (!validUtf8(buf, start, end)) throw Error('invalid UTF-8');
  reader.pos = end;
  for (const prefix of EXAMINED_PREFIX_BYTES) if (length >= prefix.length && bytesAt(buf, start, prefix)) return (buf as Buffer).toString('utf8', start, end);
  return undefined;
}

function checkField(reader: Reader, kind: FieldKind, depth: number): void {
  if (typeof kind !== 'string') checkMessage(reader, kind, depth + 1);
  else if (kind === 'string') checkString(reader);
  else if (kind === 'bytes') reader.skip(reader.size());
  else if (kind === 'varint') reader.uint32();
  else if (kind === 'int64') reader.int64();
  else reader.skip(kind === 'fixed64' ? 8 : 4);
}

/** Walks a message of `schema` as protobufjs would decode it, making nothing. */
function checkMessage(reader: Reader, schema: Schema, depth: number): void {
  const outerEnd = enter(reader, depth);
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    const kind = schema.get(tag >>> 3);
    if (kind !== undefined && (tag & 7) === wireTypeOf(kind)) checkField(reader, kind, depth);
    else reader.skipType(tag & 7, depth, tag >>> 3);
  }
  leave(reader, outerEnd);
}

/**
 * An int64 as the nearest double, which is what spans.ts makes of one: high * 2^32 is exact and
 * adding the low word rounds once, as Number() of the exact BigInt does. No Long, no string.
 */
function readInt64AsNumber(reader: Reader): number {
  const value = reader.int64() as unknown as { high: number; low: number } | number;
  return typeof value === 'number' ? value : value.high * 4294967296 + (value.low >>> 0);
}

/** An AnyValue as protobufjs decodes it: the last oneof member set wins, messages merge. */
function readAnyValue(reader: Reader, depth: number, into: AnyValueMessage): void {
  const outerEnd = enter(reader, depth);
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    const field = tag >>> 3;
    const kind = ANY_VALUE.get(field);
    if (kind === undefined || (tag & 7) !== wireTypeOf(kind)) {
      reader.skipType(tag & 7, depth, field);
      continue;
    }
    if (field === 1) {
      into.value = 'stringValue';
      into.stringValue = readString(reader);
    } else if (field === 2) {
      into.value = 'boolValue';
      into.boolValue = reader.bool();
    } else if (field === 3) {
      into.value = 'intValue';
      into.intValue = readInt64AsNumber(reader);
    } else if (field === 4) {
      into.value = 'doubleValue';
      into.doubleValue = reader.double();
    } else if (field === 5) {
      into.value = 'arrayValue';
      into.arrayValue ??= { values: [] };
      readArrayValue(reader, depth + 1, (into.arrayValue as { values: AnyValueMessage[] }).values);
    } else {
      into.value = field === 6 ? 'kvlistValue' : 'bytesValue';
      checkField(reader, kind, depth);
    }
  }
  leave(reader, outerEnd);
}

function readArrayValue(reader: Reader, depth: number, values: AnyValueMessage[]): void {
  const outerEnd = enter(reader, depth);
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_LENGTH) {
      const item: AnyValueMessage = {};
      readAnyValue(reader, depth + 1, item);
      values.push(item);
    } else reader.skipType(tag & 7, depth, tag >>> 3);
  }
  leave(reader, outerEnd);
}

/** An attribute list being read; `examined` counts every KeyValue, kept or not, as spans.ts's limit does. */
interface AttributeList {
  kept: KeyValueMessage[];
  examined: number;
}

/** Where the values of the KeyValue being read start; KeyValues read here do not nest, so one list serves all. */
const valueStarts: number[] = [];

/**
 * One KeyValue: kept (key and value) when it is within the first maxAttributesPerSpan and its key
 * is one spans.ts examines. The value is read while the key read so far is examined (the usual
 * order: key, then value); a value that came before its key, or under another key, is only
 * checked, and read again from its noted position once the final key turns out to be examined.
 */
function readKeyValue(reader: Reader, depth: number, list: AttributeList, limits: SpanLimits): void {
  if (list.examined++ >= limits.maxAttributesPerSpan) {
    checkMessage(reader, KEY_VALUE, depth);
    return;
  }
  const outerEnd = enter(reader, depth);
  let key: string | undefined;
  let value: AnyValueMessage | undefined;
  let onlyChecked = false;
  let values = 0;
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    if (tag === 0x0a) key = readExaminedKey(reader);
    else if (tag === 0x12) {
      valueStarts[values++] = reader.pos;
      if (!onlyChecked && key !== undefined) {
        value ??= {};
        readAnyValue(reader, depth + 1, value);
      } else {
        onlyChecked = true;
        checkMessage(reader, ANY_VALUE, depth + 1);
      }
    } else reader.skipType(tag & 7, depth, tag >>> 3);
  }
  if (key !== undefined) {
    if (onlyChecked) {
      const endPos = reader.pos;
      value = {};
      for (let index = 0; index < values; index++) {
        reader.pos = valueStarts[index]!;
        readAnyValue(reader, depth + 1, value);
      }
      reader.pos = endPos;
    }
    list.kept.push(value ? { key, value } : { key });
  }
  leave(reader, outerEnd);
}

function readFixed64(reader: Reader): bigint {
  if (reader.pos + 8 > reader.len) throw RangeError('index out of range');
  const value = (reader.buf as Buffer).readBigUInt64LE(reader.pos);
  reader.pos += 8;
  return value;
}

function readSpan(reader: Reader, depth: number, limits: SpanLimits): SpanMessage {
  const outerEnd = enter(reader, depth);
  const attributes: AttributeList = { kept: [], examined: 0 };
  const span: SpanMessage = { attributes: attributes.kept };
  while (reader.pos < reader.len) {
    // Tags of the fields read, with their wire types: (field << 3) | wire type.
    const tag = reader.tag();
    if (tag === 0x0a) span.traceId = reader.bytes();
    else if (tag === 0x12) span.spanId = reader.bytes();
    else if (tag === 0x1a) span.traceState = readString(reader);
    else if (tag === 0x22) span.parentSpanId = reader.bytes();
    else if (tag === 0x2a) span.name = readString(reader);
    else if (tag === 0x30) span.kind = reader.int32();
    else if (tag === 0x39) span.startTimeUnixNano = readFixed64(reader);
    else if (tag === 0x41) span.endTimeUnixNano = readFixed64(reader);
    else if (tag === 0x4a) readKeyValue(reader, depth + 1, attributes, limits);
    else {
      const kind = SPAN.get(tag >>> 3);
      if (kind !== undefined && (tag & 7) === wireTypeOf(kind)) checkField(reader, kind, depth);
      else reader.skipType(tag & 7, depth, tag >>> 3);
    }
  }
  leave(reader, outerEnd);
  return span;
}

/** Reading state across the request: spans seen (for the per-request limit) and where the last yield was. */
interface Progress {
  spansSeen: number;
  spansPastLimit: number;
  yieldedAtPos: number;
}

/** An InstrumentationScope: its name is read (server profiles match on it), the rest only checked. */
function readScope(reader: Reader, depth: number, into: ScopeSpansMessage): void {
  const outerEnd = enter(reader, depth);
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    if (tag === 0x0a) into.scope = { name: readString(reader) };
    else {
      const kind = SCOPE.get(tag >>> 3);
      if (kind !== undefined && (tag & 7) === wireTypeOf(kind)) checkField(reader, kind, depth);
      else reader.skipType(tag & 7, depth, tag >>> 3);
    }
  }
  leave(reader, outerEnd);
}

function* readScopeSpans(reader: Reader, depth: number, limits: SpanLimits, progress: Progress): Generator<void, ScopeSpansMessage> {
  const outerEnd = enter(reader, depth);
  const spans: SpanMessage[] = [];
  const scopeSpans: ScopeSpansMessage = { spans };
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    const field = tag >>> 3;
    if (field === 2 && (tag & 7) === WIRE_LENGTH) {
      // Spans past the limit are checked, so a malformed one still refuses the body, but not made.
      if (++progress.spansSeen > limits.maxSpansPerRequest) {
        progress.spansPastLimit++;
        checkMessage(reader, SPAN, depth + 1);
      } else spans.push(readSpan(reader, depth + 1, limits));
      if (reader.pos - progress.yieldedAtPos >= CHUNK_BYTES) {
        progress.yieldedAtPos = reader.pos;
        yield;
      }
    } else if (field === 1 && (tag & 7) === WIRE_LENGTH) readScope(reader, depth + 1, scopeSpans);
    else if (field === 3 && (tag & 7) === WIRE_LENGTH) checkString(reader);
    else reader.skipType(tag & 7, depth, field);
  }
  leave(reader, outerEnd);
  return scopeSpans;
}

function readResource(reader: Reader, depth: number, attributes: AttributeList, limits: SpanLimits): void {
  const outerEnd = enter(reader, depth);
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === WIRE_LENGTH) readKeyValue(reader, depth + 1, attributes, limits);
    else if (field === 2 && (tag & 7) === WIRE_VARINT) reader.uint32();
    else reader.skipType(tag & 7, depth, field);
  }
  leave(reader, outerEnd);
}

function* readResourceSpans(reader: Reader, depth: number, limits: SpanLimits, progress: Progress): Generator<void, ResourceSpansMessage> {
  const outerEnd = enter(reader, depth);
  // A resource that appears twice merges, as in protobufjs: one attribute list, one count.
  const attributes: AttributeList = { kept: [], examined: 0 };
  const resourceSpans = { resource: { attributes: attributes.kept }, scopeSpans: [] as ScopeSpansMessage[] };
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === WIRE_LENGTH) readResource(reader, depth + 1, attributes, limits);
    else if (field === 2 && (tag & 7) === WIRE_LENGTH) resourceSpans.scopeSpans.push(yield* readScopeSpans(reader, depth + 1, limits, progress));
    else if (field === 3 && (tag & 7) === WIRE_LENGTH) checkString(reader);
    else reader.skipType(tag & 7, depth, field);
  }
  leave(reader, outerEnd);
  return resourceSpans;
}

/** A request as read here: spans past maxSpansPerRequest are counted, not made. */
export interface WireTraceRequest extends TraceRequestMessage {
  spansPastLimit: number;
}

/** Reads a request, yielding (undefined) after each CHUNK_BYTES of spans; throws on a malformed body. */
function* readRequest(body: Buffer, limits: SpanLimits): Generator<void, WireTraceRequest> {
  const reader = Reader.create(body);
  const progress: Progress = { spansSeen: 0, spansPastLimit: 0, yieldedAtPos: 0 };
  const resourceSpans: ResourceSpansMessage[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.tag();
    if (tag >>> 3 === 1 && (tag & 7) === WIRE_LENGTH) resourceSpans.push(yield* readResourceSpans(reader, 1, limits, progress));
    else reader.skipType(tag & 7, 0, tag >>> 3);
  }
  return { resourceSpans, spansPastLimit: progress.spansPastLimit };
}

function decodeError(error: unknown): OtlpDecodeError {
  // protobufjs throws RangeError for truncation and Error for bad wire types, tags and UTF-8, and
  // this reader the same: all of them mean the body is not a request.
  return new OtlpDecodeError(`invalid protobuf ExportTraceServiceRequest: ${(error as Error).message}`);
}

/** Reads a request synchronously (tests, and bodies known to be small). */
export function readTraceRequestSync(body: Buffer, limits: SpanLimits): WireTraceRequest {
  try {
    const steps = readRequest(body, limits);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  } catch (error) {
    throw decodeError(error);
  }
}

/** Reads a request, giving the event loop a turn between chunks so a huge body cannot hold it. */
export async function readTraceRequest(body: Buffer, limits: SpanLimits): Promise<WireTraceRequest> {
  const steps = readRequest(body, limits);
  for (;;) {
    let step: IteratorResult<unknown, WireTraceRequest>;
    try {
      step = steps.next();
    } catch (error) {
      throw decodeError(error);
    }
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Spans in a request, counted by walking only the request, resource-spans and scope-spans levels
 * (span bytes are skipped by their length). Throws OtlpDecodeError where the walk finds the body
 * malformed, which the full decode would find too.
 */
export function countSpans(body: Buffer): number {
  const reader = Reader.create(body);
  let spans = 0;
  const eachLengthField = (depth: number, wanted: number, onField: (depth: number) => void) => {
    while (reader.pos < reader.len) {
      const tag = reader.tag();
      if (tag >>> 3 === wanted && (tag & 7) === WIRE_LENGTH) onField(depth + 1);
      else reader.skipType(tag & 7, depth, tag >>> 3);
    }
  };
  const nested = (wanted: number, inner: (depth: number) => void) => (depth: number) => {
    const outerEnd = enter(reader, depth);
    eachLengthField(depth, wanted, inner);
    leave(reader, outerEnd);
  };
  const countSpan = () => {
    reader.skip(reader.size());
    spans++;
  };
  try {
    eachLengthField(0, 1, nested(2, nested(2, countSpan)));
  } catch (error) {
    throw decodeError(error);
  }
  return spans;
}
