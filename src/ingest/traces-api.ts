// POST /v1/traces: OTLP/HTTP trace export (https://opentelemetry.io/docs/specs/otlp/#otlphttp).
// Decodes the body, keeps the spans that are activities, hands them to the ledger through the
// bounded queue, and answers with an ExportTraceServiceResponse in the request's encoding.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ActivitySink } from '../attribution/activity.ts';
import { BodyError, decodeContentEncoding, readBody } from './body.ts';
import { grpcCodeFor, sendJsonError } from './http-answers.ts';
import { jsonCodec } from './otlp-json.ts';
import { protobufCodec } from './otlp-protobuf.ts';
import { ExportTraceServiceResponse, OtlpDecodeError, RpcStatus, type OtlpCodec } from './otlp-schema.ts';
import type { SpanQueue } from './queue.ts';
import { readSpans, type SpanBatch, type SpanLimits } from './spans.ts';

/** What became of spans, for the `footprint.ingest.spans` counter (attribute `outcome`). */
export type SpanOutcome = 'accepted' | 'truncated' | 'invalid' | 'ignored' | 'over_limit' | 'throttled';

export interface TracesApiOptions {
  maxBodyBytes: number;
  limits: SpanLimits;
  weightByTokens: boolean;
  queue: SpanQueue;
  sink: ActivitySink;
  onSpanOutcome?: (outcome: SpanOutcome, count: number) => void;
}

/** Seconds an exporter should wait before retrying a refused export. */
const RETRY_AFTER_SECONDS = 1;

const CODECS: ReadonlyMap<string, OtlpCodec> = new Map([jsonCodec, protobufCodec].map((codec) => [codec.contentType, codec]));

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

function sendStatus(response: ServerResponse, codec: OtlpCodec, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = codec.encode(RpcStatus, { code: grpcCodeFor(status), message });
  response.writeHead(status, { 'Content-Type': codec.contentType, 'Content-Length': body.length, ...headers });
  response.end(body);
}

interface Delivery {
  accepted: number;
  truncated: number;
}

function deliver(batch: SpanBatch, sink: ActivitySink): Delivery {
  const delivery: Delivery = { accepted: 0, truncated: 0 };
  // A truncated span still counts its request and tokens; only part of its energy is lost.
  for (const outcome of sink.addSpans(batch.counted)) delivery[outcome]++;
  return delivery;
}

function rejectionMessage(batch: SpanBatch, truncated: number, limits: SpanLimits): string {
  const reasons = [
    batch.invalid > 0 && `${batch.invalid} without a valid time range`,
    batch.overLimit > 0 && `${batch.overLimit} past the limit of ${limits.maxSpansPerRequest} spans per request`,
    truncated > 0 && `${truncated} truncated (part of their time was settled past the attribution horizon or taken by other workloads; their requests and tokens still count)`,
  ].filter(Boolean);
  return `rejected spans: ${reasons.join('; ')}`;
}

export function createTracesApi(options: TracesApiOptions) {
  const report = (outcome: SpanOutcome, count: number) => {
    if (count > 0) options.onSpanOutcome?.(outcome, count);
  };

  return async function handleTraces(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const codec = CODECS.get(mediaType(request.headers['content-type']));
    if (!codec) {
      sendJsonError(response, 415, 'Content-Type must be application/json or application/x-protobuf', { Connection: 'close' });
      return;
    }
    let batch: SpanBatch;
    let bodyBytes: number;
    try {
      const raw = await readBody(request, options.maxBodyBytes);
      const body = await decodeContentEncoding(raw, request.headers['content-encoding'], options.maxBodyBytes);
      bodyBytes = body.length;
      batch = readSpans(codec.decodeRequest(body), options.limits, options.weightByTokens);
    } catch (error) {
      if (error instanceof BodyError || error instanceof OtlpDecodeError) {
        const status = error instanceof BodyError ? error.status : 400;
        // Unread body bytes would otherwise be drained from a client that may never stop sending.
        sendStatus(response, codec, status, error.message, request.complete ? {} : { Connection: 'close' });
        return;
      }
      throw error;
    }

    let delivery: Delivery = { accepted: 0, truncated: 0 };
    if (batch.counted.length > 0) {
      const queued = options.queue.offer(batch.counted.length, () => deliver(batch, options.sink), bodyBytes);
      if (!queued) {
        report('throttled', batch.counted.length);
        sendStatus(response, codec, 429, `${options.queue.lastRefusal}; retry later`, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
        return;
      }
      delivery = await queued;
    }
    report('accepted', delivery.accepted);
    report('truncated', delivery.truncated);
    report('invalid', batch.invalid);
    report('ignored', batch.ignored);
    report('over_limit', batch.overLimit);

    const rejected = batch.invalid + batch.overLimit + delivery.truncated;
    const answer = rejected > 0 ? { partialSuccess: { rejectedSpans: rejected, errorMessage: rejectionMessage(batch, delivery.truncated, options.limits) } } : {};
    const body = codec.encode(ExportTraceServiceResponse, answer);
    response.writeHead(200, { 'Content-Type': codec.contentType, 'Content-Length': body.length });
    response.end(body);
  };
}
