import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, defaultTextMapSetter } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withWorkload } from '../../packages/sdk/src/index.ts';
import { sampleValue, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { startIngest } from '../support/ingest-harness.ts';
import { freePort } from '../support/prom-server.ts';
import { createSysfsFixture } from '../support/sysfs-fixture.ts';

// What the Node SDK registers in an instrumented application.
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CBaggagePropagator());
});
afterAll(() => {
  context.disable();
  propagation.disable();
});

/** A downstream service recording the headers it receives. */
async function startDownstream() {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => server.close() };
}

/** An HTTP call as an instrumented client makes it: the active context injected into the headers. */
async function instrumentedFetch(url: string) {
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers, defaultTextMapSetter);
  await (await fetch(url, { headers })).text();
}

describe('withWorkload', () => {
  it('holds a window open around fn and carries the workload downstream in baggage', async () => {
    const ingest = await startIngest();
    const downstream = await startDownstream();
    try {
      const result = await withWorkload(
        { model: 'llama-3-8b', job: 'finetune-42', phase: 'training' },
        async () => {
          expect(ingest.windows.openCount).toBe(1);
          await new Promise((resolve) => setTimeout(resolve, 30)); // heartbeats at 10 ms
          await instrumentedFetch(downstream.url);
          return 'trained';
        },
        { ingestUrl: ingest.url, hwIds: ['GPU-3'], heartbeatIntervalMs: 10 },
      );
      expect(result).toBe('trained');
      expect(ingest.windows.openCount).toBe(0);
      const [segment, ...rest] = ingest.windows.activitiesBetween(0, Date.now() + 1);
      expect(rest).toEqual([]);
      expect(segment).toMatchObject({ source: 'window', workload: { model: 'llama-3-8b', job: 'finetune-42', phase: 'training' }, deviceIds: ['GPU-3'] });
      expect(segment!.endMs - segment!.startMs).toBeGreaterThanOrEqual(25);
      expect(String(downstream.seen[0]!.baggage).split(',').sort()).toEqual(['ml.job=finetune-42', 'ml.model=llama-3-8b', 'ml.phase=training']);
    } finally {
      await ingest.close();
      downstream.close();
    }
  });

  it('runs fn and reports once when the daemon is unreachable', async () => {
    const errors: Error[] = [];
    const options = { ingestUrl: 'http://127.0.0.1:1', onError: (error: Error) => errors.push(error) };
    expect(await withWorkload({ phase: 'evaluation' }, () => 42, options)).toBe(42);
    expect(errors).toHaveLength(1);
    await expect(withWorkload({ phase: 'evaluation' }, () => Promise.reject(new Error('own failure')), options)).rejects.toThrow('own failure');
  });

  it('opens its window again when the daemon answers a heartbeat with 404 (the daemon restarted): the joules after go to the workload', async () => {
    const fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 1);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    const ingestListen = `127.0.0.1:${await freePort()}`;
    const start = () => startTestDaemon({ hostRoot: fixture.root, zone: 'DE', ingestListen });
    const errors: Error[] = [];
    let daemon: TestDaemon = await start();
    try {
      await withWorkload(
        { model: 'reopened', job: 'restart-test', phase: 'training' },
        async () => {
          await daemon.close();
          daemon = await start(); // holds no window: the next heartbeat is answered 404
          await eventually(async () => sampleValue(await daemon.scrape(), 'hw_energy_joules_total', { hw_id: 'rapl:package-0' }), 10_000, 'first reading');
          // Past a heartbeat (100 ms) and one 200 ms sample after it, so the interval that sees the 10 J lies inside the re-opened window.
          await sleep(500);
          fixture.setEnergy('intel-rapl:0', 11_000_000);
          await daemon.scrapeUntil('10 J attributed to the re-opened window', (exposition) => {
            const labels = { hw_id: 'rapl:package-0', ml_model: 'reopened', ml_job: 'restart-test', ml_phase: 'training' };
            return sampleValue(exposition, 'ml_energy_joules_total', labels) === 10;
          });
        },
        { ingestUrl: `http://${ingestListen}`, hwIds: ['rapl:package-0'], heartbeatIntervalMs: 100, onError: (error) => errors.push(error) },
      );
      // Only heartbeats sent while no daemon listened failed; no 404 reached onError, and the DELETE found the window.
      expect(errors.map((error) => error.message).filter((message) => !message.includes('fetch failed'))).toEqual([]);
    } finally {
      await daemon.close();
      fixture.remove();
    }
  }, 60_000);
});
