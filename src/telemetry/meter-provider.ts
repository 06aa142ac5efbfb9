// Wires the series store into OpenTelemetry readers: the Prometheus exporter (pull) and, when
// configured, the OTLP/HTTP metrics exporter (push). Both read the same store with their own names.
// The OTLP exporter is imported only when an endpoint is set: most nodes are scraped, and its
// transformer and HTTP transport cost RSS on every node.
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OpenMetricsExposition } from './openmetrics.ts';
import { createProcessMetrics } from './process-metrics.ts';
import { StoreMetricProducer } from './producer.ts';
import type { SeriesStore } from './series-store.ts';

export interface TelemetryOptions {
  store: SeriesStore;
  version: string;
  hostName: string;
  nodeName?: string;
  otlpEndpoint?: string;
  otlpIntervalMs: number;
  /** The daemon's memory budget (config `memoryLimit`), published as footprint_memory_limit_bytes. */
  memoryLimitBytes: number;
}

export interface Telemetry {
  prometheus: PrometheusExporter;
  /** /metrics for scrapers that ask for OpenMetrics: the same series, with exemplars. */
  openMetrics: OpenMetricsExposition;
  close(): Promise<void>;
}

/** footprint's own resource: target_info on /metrics, the resource of OTLP metrics and of footprint.energy spans. */
export function footprintResource({ version, hostName, nodeName }: Pick<TelemetryOptions, 'version' | 'hostName' | 'nodeName'>): Resource {
  return resourceFromAttributes({
    'service.name': 'footprint',
    'service.version': version,
    'host.name': hostName,
    ...(nodeName ? { 'k8s.node.name': nodeName } : {}),
  });
}

export async function createTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const resource = footprintResource(options);
  const processMetrics = createProcessMetrics(options.store, options.memoryLimitBytes);
  const refresh = (nowMs: number) => processMetrics.record(nowMs);
  const scraped = new StoreMetricProducer(options.store, 'prometheus', options.version, refresh);
  const prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers: [scraped] });
  const providers = [new MeterProvider({ resource, readers: [prometheus] })];
  if (options.otlpEndpoint) {
    const url = new URL('v1/metrics', options.otlpEndpoint.endsWith('/') ? options.otlpEndpoint : `${options.otlpEndpoint}/`).toString();
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    const reader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter({ url }),
      exportIntervalMillis: options.otlpIntervalMs,
      metricProducers: [new StoreMetricProducer(options.store, 'otel', options.version, refresh)],
    });
    providers.push(new MeterProvider({ resource, readers: [reader] }));
  }
  return {
    prometheus,
    openMetrics: new OpenMetricsExposition(scraped, resource),
    async close() {
      processMetrics.close();
      // Every provider shuts down even when one fails (an OTLP push that cannot flush); the failures are reported.
      const failed = (await Promise.allSettled(providers.map((provider) => provider.shutdown()))).filter((result) => result.status === 'rejected');
      if (failed.length > 0)
        throw new AggregateError(
          failed.map((result) => result.reason),
          `${failed.length} meter provider(s) failed to shut down`,
        );
    },
  };
}
