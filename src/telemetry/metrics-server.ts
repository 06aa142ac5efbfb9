// The metrics listener: /metrics through the OTel Prometheus exporter (OpenMetrics with exemplars
// for scrapers that ask for it), plus health probes.
import { createServer } from 'node:http';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { applyListenerLimits, closeServer, listen, useOriginForm, type ListenerLimits } from '../listener.ts';
import { OPENMETRICS_CONTENT_TYPE, type OpenMetricsExposition, wantsOpenMetrics } from './openmetrics.ts';

export interface MetricsServerOptions {
  host: string;
  port: number;
  exporter: PrometheusExporter;
  openMetrics: OpenMetricsExposition;
  /** Idle timeout and connection cap (config `listenIdleTimeout`, `listenMaxConnections`). */
  connections: ListenerLimits;
  /** Ready once the first sample has been taken, so a scrape never sees an empty daemon. */
  isReady: () => boolean;
}

export async function startMetricsServer({
  host,
  port,
  exporter,
  openMetrics,
  connections,
  isReady,
}: MetricsServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    useOriginForm(request);
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics' && wantsOpenMetrics(request.headers.accept)) {
      response.writeHead(200, { 'content-type': OPENMETRICS_CONTENT_TYPE, vary: 'Accept' }).end(openMetrics.render());
    } else if (path === '/metrics') {
      exporter.getMetricsRequestHandler(request, response);
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = isReady();
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'waiting for the first sample\n');
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  applyListenerLimits(server, connections);
  const address = await listen(server, host, port, 'listen');
  return { port: address.port, close: () => closeServer(server) };
}
