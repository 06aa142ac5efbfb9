// The OTLP trace export both transports share (OTLP/HTTP POST /v1/traces and OTLP/gRPC
// TraceService/Export): decodes a request, keeps the spans that are activities, hands them to the
// ledger through the bounded queue, counts every span's outcome and builds the partial success.
// The transports only read bytes, check auth and limits, and encode the answer.
import type { ActivitySink } from '../attribution/activity.ts';
import type { OtlpCodec } from './otlp-schema.ts';
import { QueueRefusal, type SpanQueue } from './queue.ts';
import type { SenderIdentity } from '../attribution/sender.ts';
import { readSpans, type SenderAdvisory, type SpanBatch, type SpanLimits } from './spans.ts';

/**
 * What became of spans, for the `footprint.ingest.spans` counter (attribute `outcome`). `spoofed`:
 * counted, under the pod that sent it rather than the pod or GPU it named (Kubernetes mode).
 */
export type SpanOutcome = 'accepted' | 'truncated' | 'spoofed' | 'invalid' | 'ignored' | 'over_limit' | 'throttled';

export interface TracesApiOptions {
  limits: SpanLimits;
  /** The pod that sent a span (Kubernetes mode): its identity, and its model tried before `service.name`. */
  senderIdentity?: SenderIdentity;
  weightByTokens: boolean;
  queue: SpanQueue;
  sink: ActivitySink;
  onSpanOutcome?: (outcome: SpanOutcome, count: number) => void;
  /** Spans that tell their sender samples or names no service (`footprint.ingest.advisories`). */
  onAdvisory?: (advisory: SenderAdvisory) => void;
}

/** Seconds an exporter should wait before retrying a refused export. */
export const RETRY_AFTER_SECONDS = 1;

/** An IP address as sockets report it, without the IPv4-mapped IPv6 prefix, so it matches a pod's IP. */
export function peerIp(address: string | undefined): string | undefined {
  return address?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

/** What an export comes to: an ExportTraceServiceResponse, or a refusal because the queue is full. */
export type ExportAnswer =
  | { kind: 'exported'; response: { partialSuccess?: { rejectedSpans: number; errorMessage: string } } }
  | { kind: 'throttled'; message: string };

interface Delivery {
  accepted: number;
  truncated: number;
  spoofed: number;
}

function deliver(batch: SpanBatch, sink: ActivitySink): Delivery {
  const delivery: Delivery = { accepted: 0, truncated: 0, spoofed: 0 };
  // A truncated span still counts its request and tokens; only part of its energy is lost.
  // A spoofed one counts under its sender, and as spoofed whatever became of its time.
  const outcomes = sink.addSpans(batch.counted);
  for (let index = 0; index < outcomes.length; index++) delivery[batch.counted[index]!.spoofed ? 'spoofed' : outcomes[index]!]++;
  return delivery;
}

function rejectionMessage(batch: SpanBatch, delivery: Delivery, limits: SpanLimits): string {
  const { truncated, spoofed } = delivery;
  const reasons = [
    batch.invalid > 0 && `${batch.invalid} without a valid time range (the first has ${batch.invalidReason})`,
    batch.overLimit > 0 && `${batch.overLimit} past the limit of ${limits.maxSpansPerRequest} spans per request`,
    truncated > 0 &&
      `${truncated} truncated (part of their time was settled past the attribution horizon or taken by other workloads; their requests and tokens still count)`,
  ].filter(Boolean);
  const parts = reasons.length > 0 ? [`rejected spans: ${reasons.join('; ')}`] : [];
  // Not rejected (they count), but the sender should know its k8s.* or hw.id attributes were overruled.
  if (spoofed > 0) parts.push(`${spoofed} spans named another pod or its GPU; they count under the pod that sent them`);
  return parts.join('. ');
}

/**
 * The export both transports call with the request's bytes (already within the size limit and
 * decompressed). Throws OtlpDecodeError when the bytes are not an ExportTraceServiceRequest.
 */
export function createTracesApi(options: TracesApiOptions) {
  const report = (outcome: SpanOutcome, count: number) => {
    if (count > 0) options.onSpanOutcome?.(outcome, count);
  };

  const throttled = (spans: number, reason = options.queue.lastRefusal): ExportAnswer => {
    report('throttled', spans);
    return { kind: 'throttled', message: `${reason}; retry later` };
  };

  return async function exportTraces(body: Buffer, codec: OtlpCodec, peerAddress?: string): Promise<ExportAnswer> {
    // Counted first, so a body the queue cannot take is refused before any span is made.
    if (codec.countSpans) {
      const spansRead = Math.min(codec.countSpans(body), options.limits.maxSpansPerRequest);
      if (!options.queue.accepts(spansRead, body.length)) return throttled(spansRead);
    }
    const batch = readSpans(await codec.decodeRequest(body, options.limits), {
      limits: options.limits,
      weightByTokens: options.weightByTokens,
      nowMs: Date.now(),
      ...(options.senderIdentity && { senderIdentity: options.senderIdentity }),
      ...(peerAddress && { peerAddress }),
    });
    let delivery: Delivery = { accepted: 0, truncated: 0, spoofed: 0 };
    if (batch.counted.length > 0) {
      const queued = options.queue.offer(batch.counted.length, () => deliver(batch, options.sink), body.length);
      if (!queued) return throttled(batch.counted.length);
      const delivered = await queued;
      if (delivered instanceof QueueRefusal) return throttled(batch.counted.length, delivered.reason);
      delivery = delivered;
    }
    report('accepted', delivery.accepted);
    report('truncated', delivery.truncated);
    report('spoofed', delivery.spoofed);
    report('invalid', batch.invalid);
    report('ignored', batch.ignored);
    report('over_limit', batch.overLimit);
    for (const advisory of batch.advisories) options.onAdvisory?.(advisory);

    const rejected = batch.invalid + batch.overLimit + delivery.truncated;
    // OTLP: a partialSuccess with 0 rejected spans and a message is a warning.
    const warned = rejected > 0 || delivery.spoofed > 0;
    return {
      kind: 'exported',
      response: warned ? { partialSuccess: { rejectedSpans: rejected, errorMessage: rejectionMessage(batch, delivery, options.limits) } } : {},
    };
  };
}

export type ExportTraces = ReturnType<typeof createTracesApi>;
