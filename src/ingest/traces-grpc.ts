// OTLP/gRPC trace export (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc), default :4317:
// opentelemetry.proto.collector.trace.v1.TraceService/Export. The service is registered with
// raw-bytes (de)serializers so requests decode through the same protobufjs codec, and the same
// export, as POST /v1/traces. grpc-js enforces the message size limit (also after gzip); the
// sockets are footprint's own (grpc-sockets.ts), and each message counts against the ingest byte
// budget from its arrival to its status.
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  setLogger,
  status,
  type ServerErrorResponse,
  type ServerInterceptor,
  type ServiceDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ByteBudgetExhausted, type ByteBudget } from './byte-budget.ts';
import { createGrpcSockets } from './grpc-sockets.ts';
import { protobufCodec } from './otlp-protobuf.ts';
import { ExportTraceServiceResponse, OtlpDecodeError, RetryInfo, RpcStatus } from './otlp-schema.ts';
import { RETRY_AFTER_SECONDS, peerIp, type ExportTraces } from './traces-api.ts';
import type { SharedConnectionCap } from '../listener.ts';

export const EXPORT_METHOD_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

const asIs = (bytes: Buffer): Buffer => bytes;

const TRACE_SERVICE: ServiceDefinition = {
  Export: {
    path: EXPORT_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: asIs,
    requestDeserialize: asIs,
    responseSerialize: asIs,
    responseDeserialize: asIs,
  },
};

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

/** RESOURCE_EXHAUSTED is retryable only with RetryInfo in the status details (OTLP spec, "Throttling"). */
function throttledStatus(message: string): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  const retryInfo = RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds: RETRY_AFTER_SECONDS } })).finish();
  const details = RpcStatus.encode(
    RpcStatus.fromObject({ code: status.RESOURCE_EXHAUSTED, message, details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: retryInfo }] }),
  ).finish();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  return { code: status.RESOURCE_EXHAUSTED, details: message, metadata };
}

function throttledError(message: string): ServerErrorResponse {
  return { name: 'Throttled', message, ...throttledStatus(message) };
}

function failure(code: status, details: string): ServerErrorResponse {
  return { name: 'ExportFailed', message: details, code, details };
}

/** Streams one connection may have open at once: an exporter sends a few exports at a time. */
const MAX_CONCURRENT_STREAMS = 32;

/**
 * Counts each message against the byte budget from its arrival until its status is sent (decode and
 * queueing in between), refusing with RESOURCE_EXHAUSTED when the budget is spent, and marks the
 * call busy on its connection so the idle timeout spares it.
 */
function budgetInterceptor(budget: ByteBudget, callBusy: (address: string | undefined, port: number | undefined) => () => void): ServerInterceptor {
  return (_method, call) => {
    const reservation = budget.reserve();
    let endBusy = () => undefined as void;
    const done = () => {
      reservation.release();
      endBusy();
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message: Buffer, nextMessage) => {
            try {
              reservation.grow(message.length);
            } catch (error) {
              if (!(error instanceof ByteBudgetExhausted)) throw error;
              call.sendStatus(throttledStatus(error.message));
              return;
            }
            const { remoteAddress, remotePort } = call.getConnectionInfo();
            endBusy = callBusy(remoteAddress, remotePort);
            nextMessage(message);
          },
          onCancel: done,
        }),
      sendStatus: (callStatus, next) => {
        done();
        next(callStatus);
      },
    });
  };
}

export function createTracesGrpc(options: TracesGrpcOptions): TracesGrpcServer {
  // grpc-js writes its diagnostics to stderr as plain text (a bind failure too, which the start-up line
  // below already reports); route them through pino so stderr stays JSON records plus that one line.
  setLogger({
    error: (...args: unknown[]) => options.logger.warn(`grpc-js: ${args.join(' ')}`),
    info: (...args: unknown[]) => options.logger.debug(`grpc-js: ${args.join(' ')}`),
    debug: (...args: unknown[]) => options.logger.debug(`grpc-js: ${args.join(' ')}`),
  });
  const server = new Server({
    'grpc.max_receive_message_length': options.maxBodyBytes,
    // A connection with no call for the idle timeout gets a GOAWAY, so an idle exporter reconnects cleanly;
    // grpc-sockets.ts closes what ignores it.
    'grpc.max_connection_idle_ms': options.idleTimeoutMs,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
    interceptors: [budgetInterceptor(options.budget, (address, port) => sockets.callBusy(address, port))],
  });
  const sockets = createGrpcSockets({ idleTimeoutMs: options.idleTimeoutMs, cap: options.cap, injector: server.createConnectionInjector(ServerCredentials.createInsecure()) });

  function handleExport(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    const authorization = call.metadata.get('authorization')[0];
    if (!options.authorised(typeof authorization === 'string' ? authorization : undefined)) {
      callback(failure(status.UNAUTHENTICATED, 'missing or wrong bearer token'));
      return;
    }
    // getPeer() is `<address>:<port>` (IPv6 without brackets), or 'unknown'.
    const peer = call.getPeer();
    const peerAddress = peer.includes(':') ? peerIp(peer.slice(0, peer.lastIndexOf(':'))) : undefined;
    options.exportTraces(call.request, protobufCodec, peerAddress).then(
      (answer) => {
        if (answer.kind === 'throttled') callback(throttledError(answer.message));
        else callback(null, protobufCodec.encode(ExportTraceServiceResponse, answer.response));
      },
      (error: unknown) => {
        if (error instanceof OtlpDecodeError) {
          callback(failure(status.INVALID_ARGUMENT, error.message));
          return;
        }
        options.logger.error({ err: error }, 'gRPC trace export failed');
        callback(failure(status.INTERNAL, 'internal error'));
      },
    );
  }
  server.addService(TRACE_SERVICE, { Export: handleExport });

  return {
    async start() {
      const { port } = await sockets.listen(options.host, options.port);
      options.logger.info({ address: `${options.host}:${port}` }, 'ingest gRPC listener started');
      return { host: options.host, port };
    },
    async close() {
      // Streams still open (a stalled client) would hold a graceful shutdown; cut them.
      server.forceShutdown();
      await sockets.close();
    },
  };
}
