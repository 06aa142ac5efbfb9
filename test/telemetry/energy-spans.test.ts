// The footprint.energy span queue with the real OTel OTLP exporters over real sockets: a receiver
// that is down loses nothing the queue holds (it all arrives, once and in order, when the receiver
// comes up), what does not fit is counted as dropped, and so is what is still queued at shutdown.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RequestEnergy } from '../../src/attribution/ledger.ts';
import type { Device } from '../../src/devices/source.ts';
import { EnergySpanQueue } from '../../src/telemetry/energy-spans.ts';
import { footprintResource } from '../../src/telemetry/meter-provider.ts';
import { createTraceExporter } from '../../src/telemetry/trace-exporter.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import { freePort } from '../support/prom-server.ts';

const GPU: Device = { id: 'GPU-0', type: 'gpu', name: 'H100', vendor: 'nvidia', method: 'power', hostRole: 'part' };
const traceIdOf = (index: number) => `fe${index.toString(16).padStart(30, '0')}`;

function settled(index: number): RequestEnergy {
  return {
    request: {
      workload: { model: 'llama' },
      startMs: 1_750_000_000_000 + index,
      endMs: 1_750_000_001_000 + index,
      traceId: traceIdOf(index),
      spanId: 'a'.repeat(16),
    },
    energyJoules: index + 0.5,
  };
}

async function queueFor(protocol: 'grpc' | 'http/protobuf', port: number, maxQueueSpans: number) {
  const dropped = { queue_full: 0, shutdown: 0 };
  const path = protocol === 'grpc' ? '' : '/v1/traces';
  const exporter = await createTraceExporter({
    tracesEndpoint: `http://127.0.0.1:${port}${path}`,
    tracesProtocol: protocol,
    tracesCompression: protocol === 'grpc' ? 'none' : 'gzip',
    tracesTimeout: 300,
  });
  const queue = new EnergySpanQueue({
    exporter,
    resource: footprintResource({ version: 'test', hostName: 'node-1' }),
    version: 'test',
    currency: 'EUR',
    maxQueueSpans,
    maxBatchSpans: 3,
    scheduledDelayMs: 10,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    onDropped: (reason, count) => {
      dropped[reason] += count;
    },
    logger: pino({ level: 'silent' }),
  });
  return { queue, dropped };
}

describe.each(['http/protobuf', 'grpc'] as const)('the footprint.energy queue over %s', (protocol) => {
  it('keeps what it holds while the receiver is down, sends it once when it is back, and counts what did not fit', async () => {
    const port = await freePort();
    const { queue, dropped } = await queueFor(protocol, port, 8);
    for (let index = 1; index <= 10; index++) queue.add(settled(index), [GPU]);
    // A request without trace ids has no trace to join: not queued, not dropped.
    queue.add({ request: { workload: { model: 'llama' }, startMs: 0, endMs: 1 }, energyJoules: 1 }, [GPU]);
    expect(dropped).toEqual({ queue_full: 2, shutdown: 0 });
    await sleep(800);
    expect(queue.queued).toBe(8);

    const receiver = await startOtlpReceiver(protocol, port);
    try {
      await eventually(() => (receiver.spans.length >= 8 ? true : undefined), 20_000, 'the queued spans');
      await sleep(300);
      expect(receiver.spans.map(({ traceId }) => traceId)).toEqual(Array.from({ length: 8 }, (_, index) => traceIdOf(index + 1)));
      expect(receiver.spans.map(({ attributes }) => attributes['ml.energy'])).toEqual(Array.from({ length: 8 }, (_, index) => index + 1.5));
      expect(receiver.spans[0]!.attributes).toEqual({ 'ml.energy': 1.5, 'hw.id': ['GPU-0'], 'measurement.method': 'measured', 'ml.model': 'llama' });
      expect(new Set(receiver.spans.map(({ spanId }) => spanId)).size).toBe(8);
      expect(queue.queued).toBe(0);
      await queue.shutdown();
      expect(dropped).toEqual({ queue_full: 2, shutdown: 0 });
    } finally {
      await receiver.close();
    }
  });

  it('counts the spans still queued when it shuts down with the receiver down', async () => {
    const { queue, dropped } = await queueFor(protocol, await freePort(), 8);
    queue.add(settled(1), [GPU]);
    queue.add(settled(2), [{ ...GPU, id: 'GPU-1', method: 'model' }]);
    await queue.shutdown();
    expect(dropped).toEqual({ queue_full: 0, shutdown: 2 });
    // Closed: later requests are not queued.
    queue.add(settled(3), [GPU]);
    expect(queue.queued).toBe(0);
  });
});
