// A loopback OTLP trace receiver, as a collector would be: OTLP/HTTP protobuf (POST /v1/traces, gzip
// or not) or OTLP/gRPC (TraceService/Export), each body decoded with the official protos
// (src/ingest/proto through protobufjs). It keeps every span it received, with the resource's attributes.
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { createServer, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from '../../src/ingest/otlp-schema.ts';
import { EXPORT_METHOD_PATH } from '../../src/ingest/traces-grpc.ts';

type AttributeValue = string | number | boolean | string[];

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AttributeValue>;
  resource: Record<string, AttributeValue>;
  scope: string;
}

interface AnyValue {
  stringValue?: string;
  intValue?: { toString(): string } | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}

function plain(value: AnyValue | undefined): AttributeValue {
  if (value?.stringValue !== undefined) return value.stringValue;
  if (value?.doubleValue !== undefined) return value.doubleValue;
  if (value?.intValue !== undefined) return Number(value.intValue.toString());
  if (value?.boolValue !== undefined) return value.boolValue;
  return (value?.arrayValue?.values ?? []).map((item) => String(plain(item)));
}

const attributesOf = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));
const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('hex');

/** The spans of one ExportTraceServiceRequest body. */
function decodeSpans(body: Uint8Array): ReceivedSpan[] {
  const message = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String }) as {
    resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: Record<string, unknown>[] }[] }[];
  };
  return (message.resourceSpans ?? []).flatMap((resourceSpans) =>
    (resourceSpans.scopeSpans ?? []).flatMap((scopeSpans) =>
      (scopeSpans.spans ?? []).map((span) => ({
        traceId: hex(span.traceId as Uint8Array),
        spanId: hex(span.spanId as Uint8Array),
        parentSpanId: hex(span.parentSpanId as Uint8Array | undefined),
        name: String(span.name ?? ''),
        kind: Number(span.kind ?? 0),
        startTimeUnixNano: BigInt(String(span.startTimeUnixNano ?? 0)),
        endTimeUnixNano: BigInt(String(span.endTimeUnixNano ?? 0)),
        attributes: attributesOf(span.attributes as KeyValue[] | undefined),
        resource: attributesOf(resourceSpans.resource?.attributes),
        scope: scopeSpans.scope?.name ?? '',
      })),
    ),
  );
}

export interface OtlpReceiver {
  /** What an exporter is pointed at: the full /v1/traces URL (http/protobuf), or http://host:port (grpc). */
  url: string;
  port: number;
  spans: ReceivedSpan[];
  /** Export requests answered. */
  exports: number;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

/** Starts a receiver on 127.0.0.1 (`port` 0: any free port). */
export async function startOtlpReceiver(protocol: 'grpc' | 'http/protobuf', port = 0): Promise<OtlpReceiver> {
  const receiver = { spans: [] as ReceivedSpan[], exports: 0 };
  const answer = Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.create({})).finish());
  if (protocol === 'grpc') {
    const server = new Server();
    const identity = (bytes: Buffer) => bytes;
    server.register(
      EXPORT_METHOD_PATH,
      (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        receiver.spans.push(...decodeSpans(call.request));
        receiver.exports++;
        callback(null, answer);
      },
      identity,
      identity,
      'unary',
    );
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, actual) => (error ? reject(error) : resolve(actual))),
    );
    return Object.assign(receiver, {
      url: `http://127.0.0.1:${bound}`,
      port: bound,
      close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    });
  }
  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      receiver.spans.push(...decodeSpans(body));
      receiver.exports++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as { port: number }).port;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${bound}/v1/traces`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
