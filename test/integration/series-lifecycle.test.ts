// Through the running daemon: spans later than the attribution lag are counted as late, and a
// finished workload's series leave /metrics after the idle timeout instead of staying forever.
import { describe, expect, it } from 'vitest';
import { sampleValue } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

function spanRequest(model: string, startMs: number, endMs: number) {
  const nanos = (ms: number) => `${ms}000000`;
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: 'b7ad6b7169203331',
                name: 'infer',
                kind: 2,
                startTimeUnixNano: nanos(startMs),
                endTimeUnixNano: nanos(endMs),
                attributes: [{ key: 'ml.model', value: { stringValue: model } }],
              },
            ],
          },
        ],
      },
    ],
  };
}

describe('series lifecycle in the daemon', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
      fixture.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 1_000_000 });
    },
    flags: { attributionLag: '1s', seriesIdleTimeout: '2s' },
  });

  const send = async (body: unknown) => {
    const response = await fetch(`${suite.daemon.ingestUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };

  it('counts a span whose measured time is settled past the horizon as truncated and says so in partialSuccess', async () => {
    const { daemon } = suite;
    await sleep(2500);
    const nowMs = Date.now();
    // The horizon is the 1 s lag here: [now - 2 s, now - 1.8 s) was measured and its idle already published.
    const answer = await send(spanRequest('too-late', nowMs - 2000, nowMs - 1800));
    expect(answer.status).toBe(200);
    expect(answer.body.partialSuccess.rejectedSpans).toBe('1');
    const truncated = await eventually(
      async () => sampleValue(await daemon.scrape(), 'footprint_ingest_spans_total', { outcome: 'truncated' }),
      5000,
      'truncated counter',
    );
    expect(truncated).toBe(1);
  });

  it('drops a finished workload from /metrics after the idle timeout', async () => {
    const { daemon } = suite;
    const nowMs = Date.now();
    expect((await send(spanRequest('short-lived', nowMs - 300, nowMs - 100))).status).toBe(200);
    await eventually(async () => sampleValue(await daemon.scrape(), 'ml_requests_total', { ml_model: 'short-lived' }), 5000, 'the model series');
    await eventually(async () => ((await daemon.scrape()).includes('ml_model="short-lived"') ? undefined : true), 10_000, 'the series to expire');
    // Device series never expire.
    expect(sampleValue(await daemon.scrape(), 'hw_energy_joules_total', { hw_id: 'rapl:package-0' })).toBe(0);
  });
});
