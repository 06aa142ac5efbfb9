// Request bodies from outside, read with a byte limit that holds while streaming (chunked bodies
// carry no Content-Length) and again after gunzip, so a gzip bomb stops at the limit. Every byte held
// is also taken from the process-wide in-flight budget, and a body must arrive whole within a read
// timeout, so stalled clients can neither hold memory nor keep a body open for long.
import type { IncomingMessage } from 'node:http';
import { ByteBudgetExhausted, type ByteReservation } from './byte-budget.ts';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

/** A body the listener refuses; `status` is the HTTP answer (400, 408, 413, 415, or 503 when the in-flight budget is spent). */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 408 | 413 | 415 | 503,
    message: string,
  ) {
    super(message);
  }
}

export interface BodyLimits {
  maxBytes: number;
  /** The whole body must arrive within this time (config `ingestBodyTimeout`). */
  timeoutMs: number;
  /** Where the body's bytes are counted against the process-wide budget; the caller releases it. */
  reservation?: ByteReservation;
}

/**
 * Reads the whole body, failing with 413 as soon as more than `maxBytes` arrive or are announced,
 * 408 when it does not arrive within `timeoutMs`, and 503 when the in-flight budget is spent.
 */
export function readBody(request: IncomingMessage, { maxBytes, timeoutMs, reservation }: BodyLimits): Promise<Buffer> {
  const announced = Number(request.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxBytes) {
    return Promise.reject(new BodyError(413, `body of ${announced} bytes exceeds the limit of ${maxBytes} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    const finish = (error: Error | undefined) => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) {
        // Stop reading; the answer carries Connection: close, so the rest is never drained.
        request.pause();
        reject(error);
      } else resolve(Buffer.concat(chunks, receivedBytes));
    };
    const onData = (chunk: Buffer) => {
      receivedBytes += chunk.length;
      if (receivedBytes > maxBytes) return finish(new BodyError(413, `body exceeds the limit of ${maxBytes} bytes`));
      try {
        reservation?.grow(chunk.length);
      } catch (error) {
        if (error instanceof ByteBudgetExhausted) return finish(new BodyError(503, error.message));
        throw error;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    const onError = (error: Error) => finish(new BodyError(400, `body read failed: ${error.message}`));
    const onClose = () => finish(new BodyError(400, 'the client closed the connection before the body was complete'));
    const timer = setTimeout(() => finish(new BodyError(408, `body not complete within ${timeoutMs} ms (ingestBodyTimeout)`)), timeoutMs);
    request.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** Undoes `Content-Encoding` (identity or gzip); the decoded size is bounded by `maxBytes` too. */
export async function decodeContentEncoding(body: Buffer, encoding: string | undefined, maxBytes: number, reservation?: ByteReservation): Promise<Buffer> {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return body;
  if (name !== 'gzip') throw new BodyError(415, `unsupported Content-Encoding '${name.slice(0, 32)}'; use gzip or none`);
  try {
    // zlib stops inflating at maxOutputLength, so memory stays bounded whatever the ratio.
    const inflated = await gunzipAsync(body, { maxOutputLength: maxBytes });
    reservation?.grow(inflated.length);
    return inflated;
  } catch (error) {
    if (error instanceof ByteBudgetExhausted) throw new BodyError(503, error.message);
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BodyError(413, `decompressed body exceeds the limit of ${maxBytes} bytes`);
    }
    throw new BodyError(400, `invalid gzip body: ${(error as Error).message}`);
  }
}
