// The grpc-js side of OTLP/gRPC trace export (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc):
// opentelemetry.proto.collector.trace.v1.TraceService/Export on a grpc-js Server that takes its
// connections from footprint's sockets (./grpc-sockets.ts) through a connection injector. The service
// is registered with raw-bytes (de)serializers so requests decode through the same codec, and the
// same export, as POST /v1/traces. grpc-js enforces the message size limit (also after gzip); each
// message counts against the ingest byte budget from its arrival to its status. Loaded by
// ./traces-grpc.ts when the first connection arrives.
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  setLogger,
  status,
  type ConnectionInjector,
  type ServerErrorResponse,
  type ServerInterceptor,
  type ServiceDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { ByteBudgetExhausted, type ByteBudget } from './byte-budget.ts';
import { protobufCodec } from './otlp-protobuf.ts';
import { ExportTraceServiceResponse, OtlpDecodeError, RetryInfo, RpcStatus } from './otlp-schema.ts';
import { RETRY_AFTER_SECONDS, peerIp } from './traces-api.ts';
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
    let endBusy: () => void = () => {};
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

/** `callBusy` marks a call busy on its connection (GrpcSockets.callBusy) so the idle timeout spares it. */
export function createTraceService(options: TracesGrpcOptions, callBusy: (address: string | undefined, port: number | undefined) => () => void): TraceService {
  // grpc-js writes its diagnostics to stderr as plain text; route them through pino so stderr stays JSON records.
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
    interceptors: [budgetInterceptor(options.budget, callBusy)],
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

  return { injector: server.createConnectionInjector(ServerCredentials.createInsecure()), forceShutdown: () => server.forceShutdown() };
}
