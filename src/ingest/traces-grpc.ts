// OTLP/gRPC trace export (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc), default :4317:
// opentelemetry.proto.collector.trace.v1.TraceService/Export. The service is registered with
// raw-bytes (de)serializers so requests decode through the same protobufjs codec, and the same
// export, as POST /v1/traces. grpc-js enforces the message size limit (also after gzip).
import { Metadata, Server, ServerCredentials, setLogger, status, type ServerErrorResponse, type ServiceDefinition, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { protobufCodec } from './otlp-protobuf.ts';
import { ExportTraceServiceResponse, OtlpDecodeError, RetryInfo, RpcStatus } from './otlp-schema.ts';
import { RETRY_AFTER_SECONDS, peerIp, type ExportTraces } from './traces-api.ts';
import { StartupError } from '../listener.ts';

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
  exportTraces: ExportTraces;
  authorised: (authorization: string | undefined) => boolean;
  logger: Logger;
}

export interface TracesGrpcServer {
  start(): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

/** RESOURCE_EXHAUSTED is retryable only with RetryInfo in the status details (OTLP spec, "Throttling"). */
function throttledError(message: string): ServerErrorResponse {
  const metadata = new Metadata();
  const retryInfo = RetryInfo.encode(RetryInfo.fromObject({ retryDelay: { seconds: RETRY_AFTER_SECONDS } })).finish();
  const details = RpcStatus.encode(
    RpcStatus.fromObject({ code: status.RESOURCE_EXHAUSTED, message, details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: retryInfo }] }),
  ).finish();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  return { name: 'Throttled', message, code: status.RESOURCE_EXHAUSTED, details: message, metadata };
}

function failure(code: status, details: string): ServerErrorResponse {
  return { name: 'ExportFailed', message: details, code, details };
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
    // Silent connections are closed; exporters reconnect on their next export.
    'grpc.max_connection_idle_ms': 5 * 60_000,
  });

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
    start() {
      return new Promise((resolve, reject) => {
        // grpc-js takes IPv6 hosts in brackets, as in a URL.
        const host = options.host.includes(':') ? `[${options.host}]` : options.host;
        server.bindAsync(`${host}:${options.port}`, ServerCredentials.createInsecure(), (error, port) => {
          if (error) {
            // grpc-js wraps the socket error (EADDRINUSE, EADDRNOTAVAIL...) in one message; keep it on one line.
            const cause = error.message.replace(/\s+/g, ' ').slice(0, 300);
            reject(new StartupError(`config: ingestGrpcListen: cannot listen on '${options.host}:${options.port}': ${cause}; pick a free port and an address of this host`));
            return;
          }
          options.logger.info({ address: `${options.host}:${port}` }, 'ingest gRPC listener started');
          resolve({ host: options.host, port });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.tryShutdown(() => resolve());
        // Streams still open (a stalled client) would hold tryShutdown; cut them.
        server.forceShutdown();
      });
    },
  };
}
