// The ingest listener (default :4318, the OTLP/HTTP port): OTLP traces and the windows API, behind
// an optional bearer token. Plain node:http, so nothing sits between the limits here and the socket.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ActivitySink } from '../attribution/activity.ts';
import { sendJsonError } from './http-answers.ts';
import { SpanQueue } from './queue.ts';
import type { SpanLimits } from './spans.ts';
import { createTracesApi, type SpanOutcome } from './traces-api.ts';
import { createWindowsApi } from './windows-api.ts';
import type { WindowStore } from './windows.ts';

export interface IngestServerOptions {
  /** Where to listen; port 0 picks a free port. */
  host: string;
  port: number;
  /** Largest request body, before and after gunzip (config `ingestMaxBodyBytes`). */
  maxBodyBytes: number;
  /** Most spans waiting for the ledger before exports get 429 (config `ingestQueueLimit`). */
  queueLimitSpans: number;
  /** When set, every request must carry `Authorization: Bearer <token>` (config `ingestTokenFile`). */
  token?: string;
  /** Weight span activities by their token count (config `weightByTokens`). */
  weightByTokens?: boolean;
  limits?: Partial<SpanLimits>;
  sink: ActivitySink;
  windows: WindowStore;
  logger: Logger;
  onSpanOutcome?: (outcome: SpanOutcome, count: number) => void;
  /** Replaces the queue's scheduler (tests hold the queue to see 429). */
  schedule?: (turn: () => void) => void;
}

export interface IngestServer {
  start(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

/** The queue holds at most this many largest bodies' worth of decoded bytes. */
const QUEUE_BODIES = 4;

export const DEFAULT_SPAN_LIMITS: SpanLimits = { maxSpansPerRequest: 10_000, maxAttributesPerSpan: 1024 };

const WINDOWS_PATH = /^\/v1\/windows(?:\/([^/]*))?$/;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export function createIngestServer(options: IngestServerOptions): IngestServer {
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const handleTraces = createTracesApi({
    maxBodyBytes: options.maxBodyBytes,
    limits: { ...DEFAULT_SPAN_LIMITS, ...options.limits },
    weightByTokens: options.weightByTokens ?? false,
    queue: new SpanQueue({ limitSpans: options.queueLimitSpans, limitBytes: QUEUE_BODIES * options.maxBodyBytes, ...(options.schedule && { schedule: options.schedule }) }),
    sink: options.sink,
    ...(options.onSpanOutcome && { onSpanOutcome: options.onSpanOutcome }),
  });
  const handleWindows = createWindowsApi(options.windows);

  function authorised(request: IncomingMessage): boolean {
    if (!tokenDigest) return true;
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    // Comparing digests keeps the comparison constant-time whatever the presented length.
    return timingSafeEqual(digest(presented), tokenDigest);
  }

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0]!;
    const windowsMatch = WINDOWS_PATH.exec(path);
    if (path !== '/v1/traces' && !windowsMatch) {
      sendJsonError(response, 404, `no such endpoint ${path.slice(0, 64)}; ingest serves /v1/traces and /v1/windows`);
      return;
    }
    if (!authorised(request)) {
      sendJsonError(response, 401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer', Connection: 'close' });
      return;
    }
    if (windowsMatch) {
      await handleWindows(windowsMatch[1], request, response);
    } else if (request.method !== 'POST') {
      sendJsonError(response, 405, 'use POST', { Allow: 'POST' });
    } else {
      await handleTraces(request, response);
    }
  }

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      options.logger.error({ err: error, url: request.url?.slice(0, 256) }, 'ingest request failed');
      if (!response.headersSent) sendJsonError(response, 500, 'internal error', { Connection: 'close' });
      else response.destroy();
    });
  });
  // Slow-loris guard: a request must arrive whole within this time.
  server.requestTimeout = 60_000;
  server.headersTimeout = 15_000;

  return {
    start() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          options.logger.info({ address: `${address.address}:${address.port}` }, 'ingest listener started');
          resolve({ host: address.address, port: address.port });
        });
      });
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
