// The OTLP trace messages, loaded once from the .proto files in ./proto by protobufjs. JSON
// requests and every answer go through these types; protobuf requests are read by the lean reader
// (./otlp-wire.ts) into the same message shape, held to protobufjs's decoder by a differential test.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { SpanLimits } from './spans.ts';

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

function loadSchema(): protobuf.Root {
  const root = new protobuf.Root();
  // Imports are written relative to the proto root (`opentelemetry/proto/...`), as in the upstream repository.
  root.resolvePath = (_origin, target) => PROTO_DIR + target;
  root.loadSync(['opentelemetry/proto/collector/trace/v1/trace_service.proto', 'google/rpc/status.proto', 'google/rpc/error_details.proto']);
  root.resolveAll();
  return root;
}

const root = loadSchema();

export const ExportTraceServiceRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
export const ExportTraceServiceResponse = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse');
export const RpcStatus = root.lookupType('google.rpc.Status');
export const RetryInfo = root.lookupType('google.rpc.RetryInfo');

/** Span kinds by their OTLP enum number. */
export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

/** A 64-bit integer as protobufjs hands it over (a Long, since it depends on `long`, or a number), or as the wire reader reads it (a bigint). */
export type Int64Like = number | bigint | string | { toString(): string };

export interface KeyValueMessage {
  key: string;
  value?: AnyValueMessage | null;
}

/**
 * Decoded messages carry proto3 defaults on their prototype, so an unset oneof member reads as ''
 * or 0; `value` (protobufjs's virtual oneof field) names the member that is set.
 */
export interface AnyValueMessage {
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Int64Like;
  doubleValue?: number;
  arrayValue?: unknown;
  kvlistValue?: unknown;
  bytesValue?: unknown;
}

export interface SpanMessage {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  /** W3C tracestate; its `ot=th:` entry says the span was sampled at below 100%. */
  traceState?: string;
  name?: string;
  parentSpanId?: Uint8Array;
  kind?: number;
  startTimeUnixNano?: Int64Like;
  endTimeUnixNano?: Int64Like;
  attributes?: KeyValueMessage[];
}

export interface ScopeSpansMessage {
  /** The instrumentation scope (the tracer's name): how some servers are recognised. */
  scope?: { name?: string } | null;
  spans?: SpanMessage[];
}

export interface ResourceSpansMessage {
  resource?: { attributes?: KeyValueMessage[] } | null;
  scopeSpans?: ScopeSpansMessage[];
}

/** ExportTraceServiceRequest as a decoded protobufjs message. */
export interface TraceRequestMessage {
  resourceSpans?: ResourceSpansMessage[];
  /** Spans past maxSpansPerRequest that a reader counted without making them. */
  spansPastLimit?: number;
}

/** A body that is not a valid ExportTraceServiceRequest in its content type: answered with 400. */
export class OtlpDecodeError extends Error {}

/** One wire format of OTLP/HTTP: how requests decode and how answers encode. */
export interface OtlpCodec {
  readonly contentType: string;
  /**
   * Spans in the body, counted without decoding them so the span and queue limits apply first;
   * absent where counting needs the whole decode (JSON). Throws OtlpDecodeError.
   */
  countSpans?(body: Buffer): number;
  /** Rejects with OtlpDecodeError when the body cannot be read as an ExportTraceServiceRequest. */
  decodeRequest(body: Buffer, limits: SpanLimits): Promise<TraceRequestMessage>;
  /** Encodes a plain object (protobuf field names in lowerCamelCase) as a message of `type`. */
  encode(type: protobuf.Type, value: Record<string, unknown>): Buffer;
}
