// The ingest listener (default :4318, the OTLP/HTTP port): OTLP traces and the windows API, behind
// an optional bearer token. Plain node:http, so nothing sits between the limits here and the socket.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ActivitySink } from '../attribution/activity.ts';
import { applyListenerLimits, listen, type ListenerLimits } from '../listener.ts';
import { ByteBudget } from './byte-budget.ts';
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
  /** Body bytes held at once across all connections (config `ingestMaxInflightBytes`); shared with other receivers. */
  budget: ByteBudget;
  /** A body must arrive whole within this time (config `ingestBodyTimeout`). */
  bodyTimeoutMs: number;
  /** Idle timeout and connection cap (config `ingestIdleTimeout`, `ingestMaxConnections`). */
  connections: ListenerLimits;
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

export const DEFAULT_SPAN_LIMITS: SpanLimits = { maxSpansPerRequest: 10_000, maxAttributesPerSpan: 1024 };

const WINDOWS_PATH = /^\/v1\/windows(?:\/([^/]*))?$/;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export function createIngestServer(options: IngestServerOptions): IngestServer {
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);
  const handleTraces = createTracesApi({
    maxBodyBytes: options.maxBodyBytes,
    bodyTimeoutMs: options.bodyTimeoutMs,
    budget: options.budget,
    limits: { ...DEFAULT_SPAN_LIMITS, ...options.limits },
    weightByTokens: options.weightByTokens ?? false,
    queue: new SpanQueue({ limitSpans: options.queueLimitSpans, ...(options.schedule && { schedule: options.schedule }) }),
    sink: options.sink,
    ...(options.onSpanOutcome && { onSpanOutcome: options.onSpanOutcome }),
  });
  const handleWindows = createWindowsApi(options.windows, options.bodyTimeoutMs);

  function authorised(request: IncomingMessage): boolean {
    if (!tokenDigest) return true;
    const header = request.headers.authorization ?? '';
    // The auth scheme is case-insensitive (RFC 7235 section 2.1): `bearer` and `BEARER` are Bearer.
    const scheme = /^bearer +/i.exec(header);
    const presented = scheme ? header.slice(scheme[0].length).trim() : '';
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
  applyListenerLimits(server, options.connections);
  // Slow-loris backstop behind the body timeout: a request must arrive whole within this time.
  server.requestTimeout = options.bodyTimeoutMs + options.connections.idleTimeoutMs;

  return {
    async start() {
      const address = await listen(server, options.host, options.port, 'ingestListen');
      options.logger.info({ address: `${address.address}:${address.port}` }, 'ingest listener started');
      return { host: address.address, port: address.port };
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
