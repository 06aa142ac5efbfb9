// A process of an inference server as the tests stand it in: its own tracer provider with the
// server's resource and a BatchSpanProcessor over a real OTel JS exporter at the server's default
// protocol, pointed at the daemon's ingest listeners. A server of several processes (TGI's router
// and shards, Ray's proxy and replicas, a gateway in front of a server) is several of these, each
// exporting its own spans, as on a node.
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL values. */
export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';

export interface IngestEndpoints {
  /** host:port of the OTLP/gRPC listener. */
  grpcAddress: string;
  /** http://host:port of the OTLP/HTTP listener. */
  url: string;
}

/** The exporter an SDK makes for `protocol`: gRPC to the endpoint as given, HTTP to the full `/v1/traces` URL. */
export function exporterFor(protocol: OtlpProtocol, endpoints: IngestEndpoints): SpanExporter {
  if (protocol === 'grpc') return new GrpcExporter({ url: `http://${endpoints.grpcAddress}` });
  const url = `${endpoints.url}/v1/traces`;
  return protocol === 'http/protobuf' ? new ProtoExporter({ url }) : new JsonExporter({ url });
}

export class ServingProcess {
  readonly #provider: BasicTracerProvider;

  constructor(protocol: OtlpProtocol, endpoints: IngestEndpoints, resource: Record<string, string | number>) {
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes(resource),
      spanProcessors: [new BatchSpanProcessor(exporterFor(protocol, endpoints))],
    });
  }

  /** A tracer of instrumentation scope `scope` (the server's tracer name). */
  tracer(scope: string): Tracer {
    return this.#provider.getTracer(scope);
  }

  /** Exports every ended span and stops. */
  async close(): Promise<void> {
    await this.#provider.forceFlush();
    await this.#provider.shutdown();
  }
}
