// POST /v1/traces: OTLP/HTTP trace export (https://opentelemetry.io/docs/specs/otlp/#otlphttp).
// Reads the body within the size limit, hands it to the shared export and answers with an
// ExportTraceServiceResponse (or a google.rpc.Status) in the request's encoding.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyError, decodeContentEncoding, readBody } from './body.ts';
import type { ByteBudget } from './byte-budget.ts';
import { grpcCodeFor, sendJsonError } from './http-answers.ts';
import { jsonCodec } from './otlp-json.ts';
import { protobufCodec } from './otlp-protobuf.ts';
import { ExportTraceServiceResponse, OtlpDecodeError, RpcStatus, type OtlpCodec } from './otlp-schema.ts';
import { RETRY_AFTER_SECONDS, peerIp, type ExportAnswer, type ExportTraces } from './traces-api.ts';

const CODECS: ReadonlyMap<string, OtlpCodec> = new Map([jsonCodec, protobufCodec].map((codec) => [codec.contentType, codec]));
/** The answer to almost every export (nothing rejected), encoded once per codec rather than per request. */
const FULL_SUCCESS: ReadonlyMap<OtlpCodec, Buffer> = new Map([...CODECS.values()].map((codec) => [codec, codec.encode(ExportTraceServiceResponse, {})]));

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

function sendStatus(response: ServerResponse, codec: OtlpCodec, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = codec.encode(RpcStatus, { code: grpcCodeFor(status), message });
  response.writeHead(status, { 'Content-Type': codec.contentType, 'Content-Length': body.length, ...headers });
  response.end(body);
}

export interface TracesHttpLimits {
  /** Largest body, before and after gunzip (config `ingestMaxBodyBytes`). */
  maxBodyBytes: number;
  /** The whole body must arrive within this time (config `ingestBodyTimeout`). */
  bodyTimeoutMs: number;
  /** Process-wide budget of body bytes held at once (config `ingestMaxInflightBytes`). */
  budget: ByteBudget;
}

export function createTracesHttp(exportTraces: ExportTraces, { maxBodyBytes, bodyTimeoutMs, budget }: TracesHttpLimits) {
  return async function handleTraces(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const codec = CODECS.get(mediaType(request.headers['content-type']));
    if (!codec) {
      sendJsonError(response, 415, 'Content-Type must be application/json or application/x-protobuf', { Connection: 'close' });
      return;
    }
    let answer: ExportAnswer;
    // The body's bytes count against the budget until the export has decoded them into spans.
    const reservation = budget.reserve();
    try {
      const raw = await readBody(request, { maxBytes: maxBodyBytes, timeoutMs: bodyTimeoutMs, reservation });
      const body = await decodeContentEncoding(raw, request.headers['content-encoding'], maxBodyBytes, reservation);
      answer = await exportTraces(body, codec, peerIp(request.socket.remoteAddress));
    } catch (error) {
      if (error instanceof BodyError || error instanceof OtlpDecodeError) {
        const status = error instanceof BodyError ? error.status : 400;
        // Unread body bytes would otherwise be drained from a client that may never stop sending.
        const close: Record<string, string> = request.complete ? {} : { Connection: 'close' };
        sendStatus(response, codec, status, error.message, status === 503 ? { ...close, 'Retry-After': String(RETRY_AFTER_SECONDS) } : close);
        return;
      }
      throw error;
    } finally {
      reservation.release();
    }
    if (answer.kind === 'throttled') {
      sendStatus(response, codec, 429, answer.message, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
      return;
    }
    const body = answer.response.partialSuccess ? codec.encode(ExportTraceServiceResponse, answer.response) : FULL_SUCCESS.get(codec)!;
    response.writeHead(200, { 'Content-Type': codec.contentType, 'Content-Length': body.length });
    response.end(body);
  };
}
