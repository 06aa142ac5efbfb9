// Request bodies from outside, read with a byte limit that holds while streaming (chunked bodies
// carry no Content-Length) and again after gunzip, so a gzip bomb stops at the limit.
import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

/** A body the listener refuses; `status` is the HTTP answer (400, 413 or 415). */
export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

/** Reads the whole body, failing with 413 as soon as more than `maxBytes` arrive or are announced. */
export async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const announced = Number(request.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxBytes) {
    throw new BodyError(413, `body of ${announced} bytes exceeds the limit of ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let receivedBytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    receivedBytes += chunk.length;
    if (receivedBytes > maxBytes) throw new BodyError(413, `body exceeds the limit of ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, receivedBytes);
}

/** Undoes `Content-Encoding` (identity or gzip); the decoded size is bounded by `maxBytes` too. */
export async function decodeContentEncoding(body: Buffer, encoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const name = (encoding ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return body;
  if (name !== 'gzip') throw new BodyError(415, `unsupported Content-Encoding '${name.slice(0, 32)}'; use gzip or none`);
  try {
    // zlib stops inflating at maxOutputLength, so memory stays bounded whatever the ratio.
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BodyError(413, `decompressed body exceeds the limit of ${maxBytes} bytes`);
    }
    throw new BodyError(400, `invalid gzip body: ${(error as Error).message}`);
  }
}
