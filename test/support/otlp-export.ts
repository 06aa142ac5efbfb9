// What an OTLP trace exporter sends, for the load tests and benches: protobuf ExportTraceServiceRequest
// bodies of SERVER spans, one per request as inference servers record them (vLLM's `llm_request`, a
// FastAPI `POST /v1/chat/completions`, see llm-span-shapes.ts), and the gRPC TraceService/Export call
// made with raw message bytes as the OTel exporters' grpc-js client makes it, or the OTLP/HTTP POST.
import { type Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { type Agent, request } from 'node:http';
import { ExportTraceServiceRequest } from '../../src/ingest/otlp-schema.ts';
import { EXPORT_METHOD_PATH } from '../../src/ingest/traces-grpc.ts';

export interface ServerSpanBatch {
  /** Spans in the body; the OTel SDK BatchSpanProcessor sends up to 512 (maxExportBatchSize). */
  count: number;
  /** Span i of the batch gets trace and span id `firstId + i` (hex, zero-padded); default 1. */
  firstId?: number;
  name: string;
  /** When every span ended, epoch nanoseconds. */
  endNs: bigint;
  durationNs: bigint;
  /** The attributes of span i (0-based within the batch): strings as stringValue, numbers as intValue. */
  attributes: (index: number) => Record<string, string | number>;
  /** Resource attributes (service.name); none by default. */
  resource?: Record<string, string>;
}

const attributeList = (attributes: Record<string, string | number>) =>
  Object.entries(attributes).map(([key, value]) => ({ key, value: typeof value === 'string' ? { stringValue: value } : { intValue: value } }));

/** The protobuf body of one export of `count` SERVER spans. */
export function serverSpanBatch({ count, firstId = 1, name, endNs, durationNs, attributes, resource = {} }: ServerSpanBatch): Buffer {
  const spans = Array.from({ length: count }, (_, index) => ({
    traceId: Buffer.from((firstId + index).toString(16).padStart(32, '0'), 'hex'),
    spanId: Buffer.from((firstId + index).toString(16).padStart(16, '0'), 'hex'),
    name,
    kind: 2,
    startTimeUnixNano: String(endNs - durationNs),
    endTimeUnixNano: String(endNs),
    attributes: attributeList(attributes(index)),
  }));
  return encodeTraces(spans, resource);
}

/** Encodes spans (ExportTraceServiceRequest's JSON-like object form) as one resource and scope. */
export function encodeTraces(spans: unknown[], resource: Record<string, string> = {}): Buffer {
  const resourceAttributes = attributeList(resource);
  const resourceSpans = [{ ...(resourceAttributes.length > 0 && { resource: { attributes: resourceAttributes } }), scopeSpans: [{ spans }] }];
  return Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject({ resourceSpans })).finish());
}

/** One TraceService/Export call with `body` as the message bytes; the error (null on OK) and the response bytes. */
export function grpcExport(client: Client, body: Buffer, metadata = new Metadata()): Promise<{ error: ServiceError | null; response?: Buffer }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      EXPORT_METHOD_PATH,
      (bytes) => bytes,
      (bytes) => bytes,
      body,
      metadata,
      (error, response) => resolve({ error, ...(response !== undefined && { response }) }),
    );
  });
}

/** One OTLP/HTTP protobuf POST of `body` to /v1/traces on `port` over `agent` (keep-alive, as exporters keep one); `headers` adds e.g. Content-Encoding. */
export function httpExport(agent: Agent, port: number, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; answer: Buffer }> {
  return new Promise((resolve, reject) => {
    const call = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': body.length, ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, answer: Buffer.concat(chunks) }));
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}
