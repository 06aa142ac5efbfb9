// --otlp-endpoint: the daemon pushes the same series over OTLP/HTTP with their OTel names and units,
// received here by a loopback server that decodes the OTLP JSON the exporter sends.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

interface OtlpMetric {
  name: string;
  unit?: string;
  sum?: {
    isMonotonic?: boolean;
    aggregationTemporality?: number;
    dataPoints: { asDouble?: number; attributes: { key: string; value: { stringValue?: string } }[] }[];
  };
  gauge?: { dataPoints: { asDouble?: number }[] };
}

describe('OTLP metrics push', () => {
  let collector: Server;
  let collectorPort: number;
  const received: {
    path: string;
    contentType: string;
    body: { resourceMetrics: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeMetrics: { metrics: OtlpMetric[] }[] }[] };
  }[] = [];

  // The loopback collector listens before the daemon that pushes to it, and closes after it.
  beforeAll(async () => {
    collector = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        received.push({
          path: request.url ?? '',
          contentType: String(request.headers['content-type']),
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    collectorPort = (collector.address() as { port: number }).port;
  });

  afterAll(() => {
    collector?.close();
  });

  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
      fixture.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 1_000_000 });
    },
    flags: () => ({ otlpEndpoint: `http://127.0.0.1:${collectorPort}`, otlpInterval: '1s', intensity: 300 }),
  });

  it('sends hw.energy in joules and carbon.intensity with OTel names to <endpoint>/v1/metrics', async () => {
    suite.fixture.setEnergy('intel-rapl:0', 43_000_000);
    const metricsOf = (index: number) => received[index]!.body.resourceMetrics.flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
    const energy = await eventually(
      async () => {
        for (let index = received.length - 1; index >= 0; index--) {
          const metric = metricsOf(index).find((candidate) => candidate.name === 'hw.energy');
          const point = metric?.sum?.dataPoints.find((dataPoint) =>
            dataPoint.attributes.some((attribute) => attribute.key === 'hw.id' && attribute.value.stringValue === 'rapl:package-0'),
          );
          if (point?.asDouble === 42) return metric;
        }
        return undefined;
      },
      15_000,
      'an export carrying the package energy',
    );
    expect(received[0]!.path).toBe('/v1/metrics');
    expect(received[0]!.contentType).toBe('application/json');
    expect(energy.unit).toBe('J');
    expect(energy.sum!.isMonotonic).toBe(true);
    const names = new Set(metricsOf(received.length - 1).map((metric) => metric.name));
    for (const name of ['hw.energy', 'hw.power', 'hw.host.energy', 'carbon.intensity', 'carbon.emissions', 'ml.energy']) expect(names).toContain(name);
    const intensity = metricsOf(received.length - 1).find((metric) => metric.name === 'carbon.intensity')!;
    expect(intensity.unit).toBe('g/kWh');
    expect(intensity.gauge!.dataPoints[0]!.asDouble).toBe(300);
    const resource = Object.fromEntries(
      received[0]!.body.resourceMetrics[0]!.resource.attributes.map((attribute) => [attribute.key, attribute.value.stringValue]),
    );
    expect(resource['service.name']).toBe('footprint');
  });
});
