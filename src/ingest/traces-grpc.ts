// OTLP/gRPC trace export (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc), default :4317. The
// port is bound at start by footprint's own sockets (./grpc-sockets.ts); grpc-js and the service
// behind it (./traces-grpc-service.ts) are loaded when the first connection arrives, so a node whose
// workloads export over OTLP/HTTP, or not at all, never pays grpc-js's memory (about 10 MiB of RSS).
import type { Logger } from 'pino';
import type { ByteBudget } from './byte-budget.ts';
import { createGrpcSockets } from './grpc-sockets.ts';
import type { TraceService } from './traces-grpc-service.ts';
import type { ExportTraces } from './traces-api.ts';
import type { SharedConnectionCap } from '../listener.ts';

export const EXPORT_METHOD_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export interface TracesGrpcOptions {
  host: string;
  /** Port 0 picks a free port. */
  port: number;
  /** Largest message, compressed and decompressed (config `ingestMaxBodyBytes`). */
  maxBodyBytes: number;
  /** Message bytes held at once across all ingest connections (config `ingestMaxInflightBytes`), shared with OTLP/HTTP. */
  budget: ByteBudget;
  /** Shared with the OTLP/HTTP listener (config `ingestMaxConnections`). */
  cap: SharedConnectionCap;
  /** A call must reach its status within this time from its headers (config `ingestBodyTimeout`). */
  bodyTimeoutMs: number;
  /** A connection without a call for this long is closed (config `ingestIdleTimeout`). */
  idleTimeoutMs: number;
  exportTraces: ExportTraces;
  authorised: (authorization: string | undefined) => boolean;
  logger: Logger;
}

export interface TracesGrpcServer {
  start(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export function createTracesGrpc(options: TracesGrpcOptions): TracesGrpcServer {
  let service: Promise<TraceService> | undefined;
  const loadService = async (): Promise<TraceService> => {
    const { createTraceService } = await import('./traces-grpc-service.ts');
    return createTraceService(options, (address, port) => sockets.callBusy(address, port));
  };
  const sockets = createGrpcSockets({
    idleTimeoutMs: options.idleTimeoutMs,
    cap: options.cap,
    loadInjector: async () => {
      service = loadService();
      return (await service).injector;
    },
    onInjectorError: (error) => options.logger.error({ err: error }, 'gRPC listener: grpc-js failed to load; closing the connection'),
  });

  return {
    async start() {
      const { port } = await sockets.listen(options.host, options.port);
      options.logger.info({ address: `${options.host}:${port}` }, 'ingest gRPC listener started');
      return { host: options.host, port };
    },
    async close() {
      // Streams still open (a stalled client) would hold a graceful shutdown; cut them.
      (await service?.catch(() => undefined))?.forceShutdown();
      await sockets.close();
    },
  };
}
