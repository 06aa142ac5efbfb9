// The guard every OTLP/gRPC call passes first (a grpc-js server interceptor, the first in the chain),
// so that what a client sends is checked before grpc-js holds it:
// - the bearer token is checked on the call's metadata: a call without it is answered UNAUTHENTICATED
//   before its stream is read, so none of its message bytes are buffered;
// - a message is charged to the ingest byte budget for the length its prefix announces when that
//   prefix arrives, before grpc-js's message decoder sees the chunk, and a compressed message its
//   worst inflated size when its last byte arrives, before grpc-js inflates it; a call the budget
//   cannot take is answered RESOURCE_EXHAUSTED at that chunk, so it never holds more;
// - a unary call takes one message: a second is refused at its first byte;
// - a call must reach its status within the body timeout from its headers, or it is answered
//   DEADLINE_EXCEEDED, its stream is reset and its bytes released (a message without END_STREAM,
//   a client that never opens its receive window);
// - it counts as busy on its connection (grpc-sockets.ts) once, from its half-close to its status,
//   and a call that exported a non-empty message counts as the connection's activity.
import type { ServerHttp2Stream } from 'node:http2';
import { constants as http2 } from 'node:http2';
import { Metadata, ServerInterceptingCall, status, type ServerInterceptingCallInterface, type ServerInterceptor, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ByteBudgetExhausted, type ByteBudget } from './byte-budget.ts';
import { GrpcFrameReader } from './grpc-frames.ts';
import { RetryInfo, RpcStatus } from './otlp-schema.ts';
import { RETRY_AFTER_SECONDS } from './traces-api.ts';

/** Marks a call busy on its connection; the returned function ends that (idempotent), `exported` marking the connection active. */
export type CallBusy = (remoteAddress: string | undefined, remotePort: number | undefined) => (exported: boolean) => void;

export interface CallGuardOptions {
  authorised: (authorization: string | undefined) => boolean;
  budget: ByteBudget;
  /** Largest message, compressed and inflated (config `ingestMaxBodyBytes`). */
  maxMessageBytes: number;
  /** From a call's headers to its status (config `ingestBodyTimeout`). */
  bodyTimeoutMs: number;
  callBusy: CallBusy;
  logger: Logger;
}

/**
 * grpc-js inflates a compressed message in chunks and then joins them, so it holds up to twice the
 * inflated size at once; a compressed message is charged that for the largest message it may inflate to.
 */
const INFLATE_COPIES = 2;

/** RESOURCE_EXHAUSTED is retryable only with RetryInfo in the status details (OTLP spec, "Throttling"). */
export function throttledStatus(message: string): StatusObject {
  const metadata = new Metadata();
  const retryInfo = RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds: RETRY_AFTER_SECONDS } })).finish();
  const details = RpcStatus.encode(
    RpcStatus.fromObject({ code: status.RESOURCE_EXHAUSTED, message, details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: retryInfo }] }),
  ).finish();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  return { code: status.RESOURCE_EXHAUSTED, details: message, metadata };
}

const answer = (code: status, details: string): StatusObject => ({ code, details, metadata: new Metadata() });

/**
 * The call's HTTP/2 stream. grpc-js (1.14, pinned in package.json) gives the first interceptor its base
 * call, which keeps the stream in its `stream` field; no public API exposes a call's DATA as it arrives.
 */
function http2StreamOf(call: ServerInterceptingCallInterface): ServerHttp2Stream | undefined {
  const stream = (call as { stream?: Partial<ServerHttp2Stream> }).stream;
  return typeof stream?.prependListener === 'function' && typeof stream.close === 'function' ? (stream as ServerHttp2Stream) : undefined;
}

export function callGuard(options: CallGuardOptions): ServerInterceptor {
  const { budget, bodyTimeoutMs } = options;
  const inflateChargeBytes = INFLATE_COPIES * options.maxMessageBytes;

  return (_method, call) => {
    const stream = http2StreamOf(call);
    if (!stream) {
      options.logger.error('gRPC listener: grpc-js no longer exposes a call stream to its first interceptor; refusing calls');
      return new ServerInterceptingCall(call, {
        start: (next) => next({ onReceiveMetadata: () => call.sendStatus(answer(status.INTERNAL, 'internal error')) }),
      });
    }
    let reservation = budget.reserve();
    let wireBytes = 0;
    let messageBytes = 0;
    let inflateCharged = false;
    let statusSent = false;
    let halfClosed = false;
    let endBusy: ((exported: boolean) => void) | undefined;
    const frameReader = new GrpcFrameReader();

    const finish = (exported: boolean) => {
      reservation.release();
      endBusy?.(exported);
    };
    /** Answers the call from here (grpc-js then drops its further DATA) and stops the client sending more. */
    const refuse = (callStatus: StatusObject) => {
      if (statusSent) return;
      statusSent = true;
      finish(false);
      call.sendStatus(callStatus);
      // RST_STREAM(NO_ERROR) after the status: the response is complete, stop sending (RFC 9113 section 8.1).
      if (!halfClosed) stream.close(http2.NGHTTP2_NO_ERROR);
    };

    const deadline = setTimeout(() => {
      refuse(answer(status.DEADLINE_EXCEEDED, `the call did not complete within ingestBodyTimeout (${bodyTimeoutMs} ms)`));
      // A status stuck behind a receive window the client never opens is never flushed: cut the stream.
      if (!stream.closed) stream.close(http2.NGHTTP2_CANCEL);
    }, bodyTimeoutMs);
    stream.once('close', () => {
      clearTimeout(deadline);
      finish(false);
    });

    // Before grpc-js's own listener: a chunk is charged (or the call refused) before grpc-js holds it.
    stream.prependListener('data', (chunk: Buffer) => {
      if (statusSent) return;
      const frames = frameReader.read(chunk);
      if (frameReader.messagesStarted > 1) {
        refuse(answer(status.INTERNAL, 'a unary call takes one request message; a second one arrived'));
        return;
      }
      // A message's announced length is charged when its prefix arrives, so its body is paid for before
      // it comes and a call the budget cannot take is refused at its first chunk. grpc-js refuses a
      // length over the limit at the prefix.
      let bytes = frames.prefixBytes;
      for (const announcedBytes of frames.announcedBytes) if (announcedBytes <= options.maxMessageBytes) bytes += announcedBytes;
      if (frames.compressedCompleted > 0) bytes += inflateChargeBytes;
      try {
        reservation.grow(bytes);
      } catch (error) {
        if (!(error instanceof ByteBudgetExhausted)) throw error;
        refuse(throttledStatus(error.message));
        return;
      }
      wireBytes += chunk.length;
      inflateCharged ||= frames.compressedCompleted > 0;
    });

    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const authorization = metadata.get('authorization')[0];
            if (!options.authorised(typeof authorization === 'string' ? authorization : undefined)) {
              refuse(answer(status.UNAUTHENTICATED, 'missing or wrong bearer token'));
              return;
            }
            nextMetadata(metadata);
          },
          onReceiveMessage: (message: Buffer, nextMessage) => {
            messageBytes = message.length;
            if (inflateCharged) {
              // Inflated: the worst case charged for it becomes what is held, the wire bytes and the message.
              reservation.release();
              reservation = budget.reserve();
              reservation.grow(wireBytes + message.length);
              inflateCharged = false;
            }
            nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            halfClosed = true;
            if (!statusSent && !endBusy) {
              const { remoteAddress, remotePort } = call.getConnectionInfo();
              endBusy = options.callBusy(remoteAddress, remotePort);
            }
            nextHalfClose();
          },
          onCancel: () => finish(false),
        }),
      sendStatus: (callStatus, next) => {
        statusSent = true;
        finish(callStatus.code === status.OK && messageBytes > 0);
        next(callStatus);
      },
    });
  };
}
