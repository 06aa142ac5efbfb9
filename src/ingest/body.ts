// Request bodies from outside, read with a byte limit that holds while streaming (chunked bodies
// carry no Content-Length) and again while gunzip inflates, so a gzip bomb stops at the limit. Every
// byte held, received or inflated, is taken from the process-wide in-flight budget as it arrives,
// and a body must arrive whole within a read timeout, so stalled clients can neither hold memory nor
// keep a body open for long. Only a few bodies inflate at once: 256 bombs of 65 KB, each inflating
// to the 4 MiB limit side by side, used to take RSS from 63 MiB to 1.1 GB (issue 19, F6).
import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { ByteBudgetExhausted, type ByteReservation } from './byte-budget.ts';
import { ConcurrencyLimit } from './concurrency-limit.ts';

/**
 * Bodies inflating at once, process-wide. zlib runs on libuv's thread pool, 4 threads unless
 * UV_THREADPOOL_SIZE says otherwise, so more at once would not inflate faster, only hold more
 * output; the others wait their turn with their compressed bytes (already in the budget).
 */
export const MAX_CONCURRENT_INFLATES = 4;
/** zlib's output chunk: the budget and the limit are checked after each. */
const INFLATE_CHUNK_BYTES = 64 * 1024;

const inflating = new ConcurrencyLimit(MAX_CONCURRENT_INFLATES);

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

/** Undoes `Content-Encoding` (identity or gzip); the inflated size is bounded by `maxBytes` and counted in `reservation` as it inflates. */
export async function decodeContentEncoding(body: Buffer, encoding: string | undefined, maxBytes: number, reservation?: ByteReservation): Promise<Buffer> {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return body;
  if (name !== 'gzip') throw new BodyError(415, `unsupported Content-Encoding '${name.slice(0, 32)}'; use gzip or none`);
  return inflating.run(() => gunzipWithin(body, maxBytes, reservation));
}

/** Inflates chunk by chunk, stopping with 413 past `maxBytes` and 503 when the budget cannot take the next chunk. */
function gunzipWithin(body: Buffer, maxBytes: number, reservation: ByteReservation | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
    const chunks: Buffer[] = [];
    let inflatedBytes = 0;
    let settled = false;
    const fail = (error: BodyError) => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      reject(error);
    };
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return;
      inflatedBytes += chunk.length;
      if (inflatedBytes > maxBytes) return fail(new BodyError(413, `decompressed body exceeds the limit of ${maxBytes} bytes`));
      try {
        reservation?.grow(chunk.length);
      } catch (error) {
        return fail(new BodyError(503, error instanceof ByteBudgetExhausted ? error.message : String(error)));
      }
      chunks.push(chunk);
    });
    gunzip.on('error', (error) => fail(new BodyError(400, `invalid gzip body: ${error.message}`)));
    gunzip.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, inflatedBytes));
    });
    gunzip.end(body);
  });
}
