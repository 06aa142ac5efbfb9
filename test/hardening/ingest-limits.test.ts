// Windows limits per client, the TTL cap, heap expiry, the bearer scheme, and the body timeout on
// the real ingest listener (in-process, recording sink in place of the ledger).
import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WindowStore } from '../../src/ingest/windows.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { windowRequest } from '../support/window-request.ts';

let ingest: IngestHarness | undefined;
afterEach(async () => {
  await ingest?.close();
  ingest = undefined;
});

function openWindow(agent: Agent, localAddress: string, body: unknown) {
  return windowRequest({ ingestUrl: ingest!.url, method: 'POST', path: '/v1/windows', agent, localAddress, baggage: 'ml.job=flood', body });
}

describe('windows limits', () => {
  it('a 10,000-window attempt from one client takes its 1,000 and leaves the others theirs', { timeout: 60_000 }, async () => {
    // The request rate lifted, so the open-windows limit is what refuses.
    ingest = await startIngest({ windows: new WindowStore({ defaultTtlMs: 120_000, retainMs: 60_000 }), windowClientRatePerSecond: 1_000_000 });
    const attacker = new Agent({ keepAlive: true, maxSockets: 8 });
    const statuses: Record<number, number> = {};
    for (let batch = 0; batch < 10_000; batch += 100) {
      const answers = await Promise.all(Array.from({ length: 100 }, (_, index) => openWindow(attacker, '127.0.0.1', { id: `w-${batch + index}`, ttl: '24h' })));
      for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
    }
    attacker.destroy();
    expect(statuses).toEqual({ 201: 1000, 429: 9000 });

    const other = new Agent();
    const legit = await openWindow(other, '127.0.0.2', { id: 'legit', ttl: '24h' });
    other.destroy();
    expect(legit.status).toBe(201);
    // A 24 h TTL is cut to the 10 min cap (windowMaxTtl's default).
    const ttlMs = Date.parse(legit.json.expiresAt as string) - Date.parse(legit.json.segmentStart as string);
    expect(ttlMs).toBe(600_000);
    expect(ingest.windows.openCount).toBe(1001);
  });

  it('expires windows from the heap at their last heartbeat, honouring shortened and lengthened TTLs', () => {
    let nowMs = 0;
    const store = new WindowStore({ defaultTtlMs: 10_000, maxTtlMs: 60_000, retainMs: 1_000_000, maxWindowsPerClient: 5000, now: () => nowMs });
    for (let index = 0; index < 3000; index++) store.openWindow(`w${index}`, { workload: { job: 'j' }, ttlMs: 1000 * (1 + (index % 30)) }, 'client');
    nowMs = 500;
    store.heartbeat('w0', { ttlMs: 60_000 }, 'client'); // lengthened: lives to 60.5 s
    store.heartbeat('w29', { ttlMs: 1000 }, 'client'); // shortened from 30 s: ends at 1.5 s
    nowMs = 1501;
    // w0 lengthened; 100 windows of 1 s (index % 30 === 0) less w0; w29 shortened.
    expect(store.openCount).toBe(3000 - 99 - 1);
    nowMs = 30_001;
    expect(store.openCount).toBe(1);
    expect(store.info('w0', 'client')!.expiresAtMs).toBe(60_500);
    nowMs = 60_501;
    expect(store.openCount).toBe(0);
    expect(store.activitiesBetween(0, nowMs).find((activity) => activity.endMs === 500 && activity.startMs === 0)).toBeDefined();
  });
});

describe('bearer token', () => {
  it.each(['Bearer s3cret', 'bearer s3cret', 'BEARER  s3cret'])('accepts %j (RFC 7235: the scheme is case-insensitive)', async (authorization) => {
    ingest = await startIngest({ token: 's3cret' });
    const response = await fetch(`${ingest.url}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json', authorization }, body: '{}' });
    expect(response.status).toBe(200);
  });

  it.each(['Basic s3cret', 'Bearer wrong', 'Bearers3cret'])('refuses %j with 401', async (authorization) => {
    ingest = await startIngest({ token: 's3cret' });
    const response = await fetch(`${ingest.url}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json', authorization }, body: '{}' });
    expect(response.status).toBe(401);
  });
});

describe('body timeout', () => {
  it('answers 408 when the body does not arrive within ingestBodyTimeout', async () => {
    ingest = await startIngest({ bodyTimeoutMs: 300 });
    const url = new URL('/v1/traces', ingest.url);
    const startMs = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const call = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': 1000 } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      call.on('error', reject);
      call.write('{"resourceSpans":');
    });
    expect(status).toBe(408);
    expect(Date.now() - startMs).toBeLessThan(2000);
  });
});
