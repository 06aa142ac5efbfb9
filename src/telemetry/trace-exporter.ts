// The OTel JS OTLP trace exporter the `traces*` config keys describe: http/protobuf or gRPC, with the
// headers, TLS files, compression and timeout an OTLP exporter takes. Loaded only when an endpoint is
// set: most nodes export no spans, and the exporters' transports cost RSS.
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { type Config, ConfigError, readSmallFile } from '../config.ts';

/** A PEM file is a few KiB; a chain a few more. */
const MAX_PEM_BYTES = 1024 * 1024;

type TraceExportConfig = Pick<
  Config,
  'tracesProtocol' | 'tracesHeaders' | 'tracesCertificate' | 'tracesClientCertificate' | 'tracesClientKey' | 'tracesCompression' | 'tracesTimeout'
> & { tracesEndpoint: string };

/** `key=value,key2=value2` (values URL-encoded, as OTEL_EXPORTER_OTLP_HEADERS) as a record. */
function parseHeaders(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of text?.split(',') ?? []) {
    const index = pair.indexOf('=');
    const key = pair.slice(0, index).trim();
    try {
      headers[key] = decodeURIComponent(pair.slice(index + 1).trim());
    } catch {
      throw new ConfigError(`config: tracesHeaders: the value of '${key}' is not valid URL encoding`);
    }
  }
  return headers;
}

function pem(path: string | undefined, key: string): Buffer | undefined {
  return path === undefined ? undefined : Buffer.from(readSmallFile(path, key, MAX_PEM_BYTES));
}

export async function createTraceExporter(config: TraceExportConfig): Promise<SpanExporter> {
  const headers = parseHeaders(config.tracesHeaders);
  const ca = pem(config.tracesCertificate, 'tracesCertificate');
  const cert = pem(config.tracesClientCertificate, 'tracesClientCertificate');
  const key = pem(config.tracesClientKey, 'tracesClientKey');
  // The exporters' CompressionAlgorithm enum has exactly these two string values.
  type Compression = NonNullable<
    NonNullable<ConstructorParameters<typeof import('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter>[0]>['compression']
  >;
  const common = { url: config.tracesEndpoint, timeoutMillis: config.tracesTimeout, compression: config.tracesCompression as Compression };
  if (config.tracesProtocol === 'grpc') {
    const [{ OTLPTraceExporter }, { credentials, Metadata }] = await Promise.all([import('@opentelemetry/exporter-trace-otlp-grpc'), import('@grpc/grpc-js')]);
    const metadata = new Metadata();
    for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
    const channel = config.tracesEndpoint.startsWith('https:') ? credentials.createSsl(ca ?? null, key ?? null, cert ?? null) : credentials.createInsecure();
    return new OTLPTraceExporter({ ...common, metadata, credentials: channel });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ ...common, headers, httpAgentOptions: { keepAlive: true, ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) } });
}
