// The ingest listeners, behind an optional bearer token: OTLP/HTTP traces and the windows API
// (default :4318) on plain node:http, so nothing sits between the limits here and the socket, and
// OTLP/gRPC traces (default :4317). Both trace transports share one export and one queue.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ActivitySink } from '../attribution/activity.ts';
import { SharedConnectionCap, applyListenerLimits, closeServer, listen, useOriginForm, type ListenerLimits } from '../listener.ts';
import type { ByteBudget } from './byte-budget.ts';
import { bearerTokenCheck } from './bearer-token.ts';
import { sendJsonError } from './http-answers.ts';
import type { MemoryGuard } from './memory-guard.ts';
import { createPlanApi, type Planner } from './plan-api.ts';
import { SpanQueue, type RefusalReason } from './queue.ts';
import type { SenderIdentity } from '../attribution/sender.ts';
import type { SpanLimits } from './spans.ts';
import { createTracesApi, type SpanOutcome, type TracesApiOptions } from './traces-api.ts';
import { createTracesGrpc } from './traces-grpc.ts';
import { createTracesHttp } from './traces-http.ts';
import { createWindowsApi } from './windows-api.ts';
import type { WindowStore } from './windows.ts';

export interface IngestServerOptions {
  /** Where to listen; port 0 picks a free port. */
  host: string;
  port: number;
  /** Where the OTLP/gRPC listener listens (config `ingestGrpcListen`); none when unset. */
  grpc?: { host: string; port: number };
  /** Largest request body, before and after gunzip (config `ingestMaxBodyBytes`). */
  maxBodyBytes: number;
  /** Body bytes held at once across all connections (config `ingestMaxInflightBytes`); shared with other receivers. */
  budget: ByteBudget;
  /** Exports are refused while the process is near its memory budget (config `memoryLimit`). */
  memory: MemoryGuard;
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
  /** The pod that sent a span (Kubernetes mode): its identity, and its model tried before `service.name`. */
  senderIdentity?: SenderIdentity;
  sink: ActivitySink;
  windows: WindowStore;
  /** Window requests per second per client (config `windowClientRatePerSecond`). */
  windowClientRatePerSecond?: number;
  logger: Logger;
  onSpanOutcome?: (outcome: SpanOutcome, count: number) => void;
  onAdvisory?: TracesApiOptions['onAdvisory'];
  /** Called once for each export refused with 429 / RESOURCE_EXHAUSTED. */
  onRefusal?: (reason: RefusalReason) => void;
  /** Answers GET /v1/plan; without it the endpoint is absent. */
  planner?: Planner;
  /** Replaces the queue's scheduler (tests hold the queue to see 429). */
  schedule?: (turn: () => void) => void;
}

export interface IngestServer {
  /** `grpcPort` is set when the gRPC listener runs. */
  start(): Promise<{ host: string; port: number; grpcPort?: number }>;
  close(): Promise<void>;
}

/** The queue holds at most this many largest bodies' worth of decoded bytes. */
const QUEUE_BODIES = 4;

export const DEFAULT_SPAN_LIMITS: SpanLimits = { maxSpansPerRequest: 10_000, maxAttributesPerSpan: 1024, maxSpanDurationMs: 3_600_000 };

const WINDOWS_PATH = /^\/v1\/windows(?:\/([^/]*))?$/;

export function createIngestServer(options: IngestServerOptions): IngestServer {
  const authorised = bearerTokenCheck(options.token);
  const exportTraces = createTracesApi({
    limits: { ...DEFAULT_SPAN_LIMITS, ...options.limits },
    weightByTokens: options.weightByTokens ?? false,
    queue: new SpanQueue({
      limitSpans: options.queueLimitSpans,
      limitBytes: QUEUE_BODIES * options.maxBodyBytes,
      memoryPressure: () => options.memory.pressure(),
      ...(options.onRefusal && { onRefusal: options.onRefusal }),
      ...(options.schedule && { schedule: options.schedule }),
    }),
    sink: options.sink,
    ...(options.senderIdentity && { senderIdentity: options.senderIdentity }),
    ...(options.onSpanOutcome && { onSpanOutcome: options.onSpanOutcome }),
    ...(options.onAdvisory && { onAdvisory: options.onAdvisory }),
  });
  const handleTraces = createTracesHttp(exportTraces, { maxBodyBytes: options.maxBodyBytes, bodyTimeoutMs: options.bodyTimeoutMs, budget: options.budget });
  const handleWindows = createWindowsApi(options.windows, {
    bodyTimeoutMs: options.bodyTimeoutMs,
    ...(options.windowClientRatePerSecond !== undefined && { clientRatePerSecond: options.windowClientRatePerSecond }),
    memoryPressure: () => options.memory.pressure(),
  });
  // One connection cap for both ingest listeners, so ingestMaxConnections bounds ingest's descriptors.
  const connectionCap = new SharedConnectionCap(options.connections.maxConnections);
  const grpc =
    options.grpc &&
    createTracesGrpc({
      ...options.grpc,
      maxBodyBytes: options.maxBodyBytes,
      budget: options.budget,
      cap: connectionCap,
      bodyTimeoutMs: options.bodyTimeoutMs,
      idleTimeoutMs: options.connections.idleTimeoutMs,
      exportTraces,
      authorised,
      logger: options.logger,
    });
  const handlePlan = options.planner && createPlanApi(options.planner);

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    useOriginForm(request);
    const path = (request.url ?? '/').split('?')[0]!;
    const windowsMatch = WINDOWS_PATH.exec(path);
    if (path !== '/v1/traces' && !windowsMatch && !(handlePlan && path === '/v1/plan')) {
      sendJsonError(response, 404, `no such endpoint ${path.slice(0, 64)}; ingest serves /v1/traces, /v1/windows and /v1/plan`);
      return;
    }
    if (!authorised(request.headers.authorization)) {
      sendJsonError(response, 401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer', Connection: 'close' });
      return;
    }
    if (handlePlan && path === '/v1/plan') {
      handlePlan(request, response);
    } else if (windowsMatch) {
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
  connectionCap.add(server);
  // Slow-loris backstop behind the body timeout: a request must arrive whole within this time.
  server.requestTimeout = options.bodyTimeoutMs + options.connections.idleTimeoutMs;

  return {
    async start() {
      const http = await listen(server, options.host, options.port, 'ingestListen');
      options.logger.info({ address: `${http.address}:${http.port}` }, 'ingest listener started');
      if (!grpc) return { host: http.address, port: http.port };
      try {
        const { port: grpcPort } = await grpc.start();
        return { host: http.address, port: http.port, grpcPort };
      } catch (error) {
        await closeServer(server);
        throw error;
      }
    },
    async close() {
      await Promise.all([closeServer(server), grpc?.close()]);
    },
  };
}
