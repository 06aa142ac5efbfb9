// The grpc-js side of OTLP/gRPC trace export (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc):
// opentelemetry.proto.collector.trace.v1.TraceService/Export on a grpc-js Server that takes its
// connections from footprint's sockets (./grpc-sockets.ts) through a connection injector. The service
// is registered with raw-bytes (de)serializers so requests decode through the same codec, and the
// same export, as POST /v1/traces. grpc-js enforces the message size limit (also after gzip); the
// call guard (./grpc-call-guard.ts) checks the token, the byte budget and the deadline before grpc-js
// holds a byte. Loaded by ./traces-grpc.ts when the first connection arrives.
import {
  Server,
  ServerCredentials,
  setLogger,
  status,
  type ConnectionInjector,
  type ServerErrorResponse,
  type ServiceDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { callGuard, throttledStatus, type CallBusy } from './grpc-call-guard.ts';
import { protobufCodec } from './otlp-protobuf.ts';
import { ExportTraceServiceResponse, OtlpDecodeError } from './otlp-schema.ts';
import { peerIp } from './traces-api.ts';
import { EXPORT_METHOD_PATH, type TracesGrpcOptions } from './traces-grpc.ts';

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

export interface TraceService {
  injector: ConnectionInjector;
  /** Cuts the streams still open (a stalled client would hold a graceful shutdown). */
  forceShutdown(): void;
}

function throttledError(message: string): ServerErrorResponse {
  return { name: 'Throttled', message, ...throttledStatus(message) };
}

function failure(code: status, details: string): ServerErrorResponse {
  return { name: 'ExportFailed', message: details, code, details };
}

/**
 * The HTTP/2 session settings grpc-js lets a server set: streams one connection may have open at once
 * (an exporter sends a few exports at a time). The rest are Node's defaults, which grpc-js does not
 * change: 16 KiB frames and a 64 KiB receive window per stream (docs/security.md).
 */
const MAX_CONCURRENT_STREAMS = 32;

/** `callBusy` marks a call busy on its connection (GrpcSockets.callBusy) so the idle timeout spares it. */
export function createTraceService(options: TracesGrpcOptions, callBusy: CallBusy): TraceService {
  // grpc-js writes its diagnostics to stderr as plain text; route them through pino so stderr stays JSON records.
  setLogger({
    error: (...args: unknown[]) => options.logger.warn(`grpc-js: ${args.join(' ')}`),
    info: (...args: unknown[]) => options.logger.debug(`grpc-js: ${args.join(' ')}`),
    debug: (...args: unknown[]) => options.logger.debug(`grpc-js: ${args.join(' ')}`),
  });
  const server = new Server({
    // Refused at the message's 5-byte prefix, before any of it is buffered, and again after inflating.
    'grpc.max_receive_message_length': options.maxBodyBytes,
    // A connection with no call for the idle timeout gets a GOAWAY, so an idle exporter reconnects cleanly;
    // grpc-sockets.ts closes what ignores it.
    'grpc.max_connection_idle_ms': options.idleTimeoutMs,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
    interceptors: [
      callGuard({
        authorised: options.authorised,
        budget: options.budget,
        maxMessageBytes: options.maxBodyBytes,
        bodyTimeoutMs: options.bodyTimeoutMs,
        callBusy,
        logger: options.logger,
      }),
    ],
  });

  function handleExport(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    // The bearer token, the byte budget and the deadline were checked by the call guard.
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

  return { injector: server.createConnectionInjector(ServerCredentials.createInsecure()), forceShutdown: () => server.forceShutdown() };
}
