// OTLP/HTTP JSON encoding (`application/json`). The OTLP JSON mapping is proto3's JSON mapping
// with two differences: trace and span ids are hex, not base64, and enums are integers. The ids
// are converted here; protobufjs's fromObject does the rest (int64 as strings or numbers,
// lowerCamelCase names), so JSON and protobuf bodies reach the same message type.
import { isUtf8 } from 'node:buffer';
import { ExportTraceServiceRequest, OtlpDecodeError, type OtlpCodec, type TraceRequestMessage } from './otlp-schema.ts';

const ID_FIELDS = ['traceId', 'spanId', 'parentSpanId'] as const;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const TIME_FIELDS = ['startTimeUnixNano', 'endTimeUnixNano'] as const;
const DECIMAL_UINT64 = /^\d{1,20}$/;

/**
 * Whether a time is an unsigned integer as proto3 JSON writes one. fromObject would read `"-5"` as
 * 2^64-5, `"12.5"` as 12 and `1e400` as the largest value; such spans are rejected one by one
 * (their time is cleared, so they count as invalid) instead of arriving as odd but valid times.
 */
function isUnsignedTime(value: unknown): boolean {
  return typeof value === 'string' ? DECIMAL_UINT64.test(value) : typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** Replaces hex id strings by bytes in place, so fromObject does not read them as base64, and clears times that are not unsigned integers. */
function convertHexIds(request: Record<string, unknown>): void {
  for (const resourceSpans of records(request.resourceSpans)) {
    for (const scopeSpans of records(resourceSpans.scopeSpans)) {
      for (const span of records(scopeSpans.spans)) {
        for (const field of TIME_FIELDS) {
          if (span[field] !== undefined && !isUnsignedTime(span[field])) span[field] = '0';
        }
        for (const field of ID_FIELDS) {
          const id = span[field];
          if (id === undefined || id === null) continue;
          if (typeof id !== 'string' || !HEX.test(id)) throw new OtlpDecodeError(`span ${field} must be a hex string`);
          span[field] = Buffer.from(id, 'hex');
        }
      }
    }
  }
}

/** `start_time_unix_nano` -> `startTimeUnixNano`. */
function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/**
 * A request with the proto field names (snake_case) as keys, in the lowerCamelCase the OTLP/JSON
 * mapping uses. Proto3 JSON parsers accept both (the Collector's receiver does), and
 * opentelemetry-cpp up to 1.13 writes snake_case (`OtlpHttpExporterOptions` `use_json_name = false`),
 * which is what NVIDIA Triton sends. Every object key in an OTLP trace request is a field name (its
 * attribute keys are values), so all of them convert.
 */
function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (!isRecord(value)) return value;
  const converted: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) converted[camelCase(key)] = camelCaseKeys(item);
  return converted;
}

export const jsonCodec: OtlpCodec = {
  contentType: 'application/json',
  async decodeRequest(body) {
    // One rule for both encodings: proto3 requires valid UTF-8 in strings and protobufjs refuses
    // a batch without it, so a JSON body (RFC 8259: UTF-8) with invalid bytes is refused the same
    // way instead of having them silently replaced by U+FFFD.
    if (!isUtf8(body)) throw new OtlpDecodeError('invalid JSON: the body is not valid UTF-8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      throw new OtlpDecodeError(`invalid JSON: ${(error as Error).message}`);
    }
    if (!isRecord(parsed)) throw new OtlpDecodeError('an ExportTraceServiceRequest must be a JSON object');
    const request = 'resource_spans' in parsed ? (camelCaseKeys(parsed) as Record<string, unknown>) : parsed;
    convertHexIds(request);
    try {
      // fromObject rejects structural mismatches (an object where an array belongs) and coerces
      // scalars as proto3 JSON does; spans whose times do not survive that are rejected later, one by one.
      return ExportTraceServiceRequest.fromObject(request) as unknown as TraceRequestMessage;
    } catch (error) {
      throw new OtlpDecodeError(`invalid ExportTraceServiceRequest: ${(error as Error).message}`);
    }
  },
  encode(type, value) {
    return Buffer.from(JSON.stringify(type.toObject(type.fromObject(value), { longs: String })));
  },
};
