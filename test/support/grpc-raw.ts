// Raw OTLP/gRPC calls on node:http2, for attacks a well-behaved client library will not make: partial
// messages, messages without END_STREAM, two messages on a unary call, a receive window never opened.
// gRPC framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): 1 byte compressed
// flag, 4-byte big-endian length, the message.
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type Settings } from 'node:http2';
import { EXPORT_METHOD_PATH } from '../../src/ingest/traces-grpc.ts';

/** The 5-byte prefix of a message of `lengthBytes`. */
export function messagePrefix(lengthBytes: number, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(lengthBytes, 1);
  return prefix;
}

/** One framed message. */
export function grpcMessage(message: Buffer, compressed = false): Buffer {
  return Buffer.concat([messagePrefix(message.length, compressed), message]);
}

/**
 * An HTTP/2 connection to `address` (host:port); `closed` resolves when it closes, with the ms since it
 * opened. The client closes it itself after `limitMs`, so an attack the server does not end still ends.
 */
export function rawSession(address: string, settings: Settings = {}, limitMs = 30_000): { session: ClientHttp2Session; closed: Promise<number> } {
  const openedMs = Date.now();
  // An attacker's session buffers far more than Node's default 10 MB of writes; without this the client
  // itself would reset its streams (ENHANCE_YOUR_CALM).
  const session = connect(`http://${address}`, { settings, maxSessionMemory: 1024 });
  session.on('error', () => undefined);
  const limit = setTimeout(() => session.destroy(), limitMs);
  const closed = new Promise<number>((resolve) =>
    session.once('close', () => {
      clearTimeout(limit);
      resolve(Date.now() - openedMs);
    }),
  );
  return { session, closed };
}

export interface RawCallEnd {
  /** grpc-status of the response, when one arrived. */
  grpcStatus?: number;
  grpcMessage?: string;
  /** The stream's RST_STREAM code (0 when it closed normally). */
  rstCode: number;
  /** Since the call was opened. */
  afterMs: number;
}

export interface RawCall {
  stream: ClientHttp2Stream;
  /** Resolves when the stream closes. */
  ended: Promise<RawCallEnd>;
}

/** Opens a TraceService/Export call; `token` sets a bearer token, `encoding` grpc-encoding. */
export function rawCall(session: ClientHttp2Session, { token, encoding }: { token?: string; encoding?: string } = {}): RawCall {
  const openedMs = Date.now();
  const stream = session.request({
    ':method': 'POST',
    ':path': EXPORT_METHOD_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(token !== undefined && { authorization: `Bearer ${token}` }),
    ...(encoding !== undefined && { 'grpc-encoding': encoding }),
  });
  stream.on('error', () => undefined);
  // Read the response, or its end is never seen.
  stream.resume();
  const end: Omit<RawCallEnd, 'rstCode' | 'afterMs'> = {};
  const readStatus = (headers: Record<string, unknown>) => {
    if (headers['grpc-status'] !== undefined) {
      end.grpcStatus = Number(headers['grpc-status']);
      end.grpcMessage = decodeURIComponent(String(headers['grpc-message'] ?? ''));
    }
  };
  stream.on('response', readStatus);
  stream.on('trailers', readStatus);
  const ended = new Promise<RawCallEnd>((resolve) =>
    stream.once('close', () => resolve({ ...end, rstCode: stream.rstCode ?? 0, afterMs: Date.now() - openedMs })),
  );
  return { stream, ended };
}
