import { afterEach, describe, expect, it } from 'vitest';
import { MemoryGuard } from '../../src/ingest/memory-guard.ts';
import { WindowLimitError, WindowStore } from '../../src/ingest/windows.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { sleep } from '../support/eventually.ts';
import { windowRequest } from '../support/window-request.ts';

describe('WindowStore', () => {
  it('splits a window into segments on a phase change, expires it at its last heartbeat and forgets old segments', () => {
    let nowMs = 1_000_000;
    const store = new WindowStore({ defaultTtlMs: 10_000, retainMs: 60_000, now: () => nowMs });
    store.openWindow('w', { workload: { model: 'm', phase: 'training' }, deviceIds: ['GPU-0'] }, 'client');
    nowMs += 5000;
    store.heartbeat('w', { workload: { model: 'm', phase: 'checkpointing' } }, 'client');
    nowMs += 3000;
    expect(store.activitiesBetween(0, nowMs)).toEqual([
      { source: 'window', senderKey: 'client', workload: { model: 'm', phase: 'training' }, deviceIds: ['GPU-0'], startMs: 1_000_000, endMs: 1_005_000 },
      { source: 'window', senderKey: 'client', workload: { model: 'm', phase: 'checkpointing' }, deviceIds: ['GPU-0'], startMs: 1_005_000, endMs: 1_008_000 },
    ]);
    expect(store.activitiesBetween(1_006_000, 1_007_000).map((activity) => activity.workload.phase)).toEqual(['checkpointing']);
    nowMs += 20_000; // past the TTL: ends at the last heartbeat (1_005_000), so its last segment is empty
    expect(store.openCount).toBe(0);
    expect(store.activitiesBetween(0, nowMs).map((activity) => activity.endMs)).toEqual([1_005_000]);
    nowMs += 60_000;
    expect(store.activitiesBetween(0, nowMs)).toEqual([]);
  });
});

describe('WindowStore limits', () => {
  /** What a distinct workload is charged once (interned): 448 bytes plus twice its key's UTF-8 bytes. */
  const workloadBytes = (model: string, phase: string) => 448 + 2 * Buffer.byteLength(JSON.stringify([model, null, phase, null, null]));
  const SEGMENT_BYTES = 96;

  it('charges ended segments 96 bytes each and a workload they share once', () => {
    let nowMs = 0;
    const store = new WindowStore({ defaultTtlMs: 60_000, retainMs: 600_000, ratePerSecond: 1e6, now: () => nowMs });
    store.openWindow('w', { workload: { model: 'm', phase: 'a' } }, 'client');
    for (let flip = 1; flip <= 1000; flip++) {
      nowMs += 1;
      store.heartbeat('w', { workload: { model: 'm', phase: flip % 2 === 1 ? 'b' : 'a' } }, 'client');
      if (flip === 1) expect(store.segmentBytes).toBe(SEGMENT_BYTES + workloadBytes('m', 'a'));
    }
    expect(store.segmentBytes).toBe(1000 * SEGMENT_BYTES + workloadBytes('m', 'a') + workloadBytes('m', 'b'));
    // The 1,000 ended segments (the open one has run for 0 ms).
    expect(store.activitiesBetween(0, nowMs)).toHaveLength(1000);
    // Aged out, they are forgotten with their labels.
    nowMs += 600_001;
    expect(store.segmentBytes).toBe(0);
  });

  it('refuses a phase change past windowSegmentMaxBytes, keeps the window as it was, and takes it once segments age out', () => {
    let nowMs = 0;
    const astral = (flip: number) => `${flip}${'𝔐'.repeat(127)}`;
    const flipBytes = SEGMENT_BYTES + workloadBytes(astral(0), 'p'); // the same length for flips 0-9
    const store = new WindowStore({ defaultTtlMs: 60_000, retainMs: 30_000, ratePerSecond: 1e6, maxSegmentBytes: 4 * flipBytes + 100, now: () => nowMs });
    store.openWindow('w', { workload: { model: astral(0), phase: 'p' } }, 'client');
    for (let flip = 1; flip <= 4; flip++) {
      nowMs += 1000;
      store.heartbeat('w', { workload: { model: astral(flip), phase: 'p' } }, 'client');
    }
    expect(store.segmentBytes).toBe(4 * flipBytes);
    nowMs += 1000;
    const refused = (() => {
      try {
        store.heartbeat('w', { workload: { model: astral(5), phase: 'p' } }, 'client');
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(WindowLimitError);
    // The first segment ended at 1 s and is kept for 30 s: room at 31 s, 26 s from now (5 s).
    expect((refused as WindowLimitError).retryAfterMs).toBe(26_000);
    expect(store.info('w', 'client')!.workload.model).toBe(astral(4));
    // A heartbeat that changes nothing needs no room.
    expect(store.heartbeat('w', {}, 'client')!.workload.model).toBe(astral(4));
    nowMs = 31_001;
    expect(store.heartbeat('w', { workload: { model: astral(5), phase: 'p' } }, 'client')!.workload.model).toBe(astral(5));
    expect(store.segmentBytes).toBe(4 * flipBytes);
  });

  it('takes a burst of 2 s worth of windowRatePerSecond, then one update per 1/rate', () => {
    let nowMs = 0;
    const store = new WindowStore({ defaultTtlMs: 60_000, retainMs: 60_000, ratePerSecond: 5, now: () => nowMs });
    store.openWindow('w', { workload: { job: 'j' } }, 'client');
    for (let update = 0; update < 10; update++) store.heartbeat('w', {}, 'client');
    expect(() => store.heartbeat('w', {}, 'client')).toThrow(/faster than 5 times a second \(windowRatePerSecond\)/);
    try {
      store.heartbeat('w', {}, 'client');
    } catch (error) {
      expect((error as WindowLimitError).retryAfterMs).toBe(200);
    }
    nowMs += 200;
    expect(store.heartbeat('w', {}, 'client')).toBeDefined();
    // Another window of the same client has its own rate.
    store.openWindow('v', { workload: { job: 'j' } }, 'client');
    expect(store.heartbeat('v', {}, 'client')).toBeDefined();
  });
});

describe('windows API', () => {
  let ingest: IngestHarness | undefined;
  afterEach(async () => ingest?.close());

  function call(method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
    return fetch(`${ingest!.url}${path}`, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  }

  it('opens a window from the baggage header, changes its phase, ends it', async () => {
    ingest = await startIngest();
    const opened = await call(
      'POST',
      '/v1/windows',
      { baggage: 'ml.model=llama%203,ml.job=ft-42,ml.phase=training', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      { 'hw.id': ['GPU-0'], ttl: '5m' },
    );
    expect(opened.status).toBe(201);
    const window = (await opened.json()) as { id: string };
    expect(window).toMatchObject({
      workload: { model: 'llama 3', job: 'ft-42', phase: 'training' },
      'hw.id': ['GPU-0'],
      traceId: '0af7651916cd43dd8448eb211c80319c',
    });
    expect(opened.headers.get('location')).toBe(`/v1/windows/${window.id}`);
    await sleep(20);
    const updated = await call('PUT', `/v1/windows/${window.id}`, { baggage: 'ml.model=llama%203,ml.job=ft-42,ml.phase=checkpointing' });
    expect(await updated.json()).toMatchObject({ workload: { phase: 'checkpointing' } });
    expect((await call('DELETE', `/v1/windows/${window.id}`)).status).toBe(204);
    expect((await call('DELETE', `/v1/windows/${window.id}`)).status).toBe(404);
    expect(ingest.windows.activitiesBetween(0, Date.now() + 1).map((activity) => [activity.workload.phase, activity.deviceIds])).toEqual([
      ['training', ['GPU-0']],
      ['checkpointing', ['GPU-0']],
    ]);
  });

  it('re-opening a window by id updates it instead of opening a second one', async () => {
    ingest = await startIngest();
    const headers = { baggage: 'ml.job=nightly-eval' };
    expect((await call('POST', '/v1/windows', headers, { id: 'eval-1' })).status).toBe(201);
    expect((await call('POST', '/v1/windows', headers, { id: 'eval-1' })).status).toBe(200);
    expect(ingest.windows.openCount).toBe(1);
  });

  it('takes 500 baggage members and control characters, reading ml.* within the W3C limits', async () => {
    ingest = await startIngest();
    const members = Array.from({ length: 500 }, (_, index) => `k${index}=v${index}`);
    const workload = ['ml.model=%00big%E2%80%AE%09model', `ml.job=${'x'.repeat(2000)}`];
    const first = await call('POST', '/v1/windows', { baggage: [...workload, ...members].join(',') });
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({ workload: { model: 'big model', job: 'x'.repeat(128) } });
    // The propagator keeps the first 180 members (and 8192 bytes); members past that are not read.
    const late = await call('POST', '/v1/windows', { baggage: [...members, ...workload].join(',') });
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ message: expect.stringMatching(/first 180 members/) });
  });

  it('answers bad requests with 400, 404, 405 and 413 and keeps serving', async () => {
    ingest = await startIngest();
    expect((await call('POST', '/v1/windows')).status).toBe(400); // no baggage
    expect((await call('POST', '/v1/windows', { baggage: 'ml.phase=x' }, { pid: 1 })).status).toBe(400);
    expect((await call('POST', '/v1/windows', { baggage: 'ml.phase=x' }, { ttl: 'soon' })).status).toBe(400);
    expect((await call('POST', '/v1/windows', { baggage: 'ml.phase=x' }, { id: 'a/b' })).status).toBe(400);
    expect((await call('POST', '/v1/windows', { baggage: 'ml.phase=x' }, { id: 'x'.repeat(5000) })).status).toBe(413);
    expect((await call('PUT', '/v1/windows/unknown')).status).toBe(404);
    const get = await call('GET', '/v1/windows');
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await call('POST', '/v1/windows', { baggage: 'ml.phase=x' })).status).toBe(201);
  });

  it('a window belongs to the address that opened it: another gets 404 for PUT and DELETE, and its POST of the id opens its own', async () => {
    ingest = await startIngest();
    const as = (localAddress: string, method: 'POST' | 'PUT' | 'DELETE', path: string, baggage?: string, body?: unknown) =>
      windowRequest({ ingestUrl: ingest!.url, method, path, localAddress, ...(baggage !== undefined && { baggage }), ...(body !== undefined && { body }) });
    expect((await as('127.0.0.1', 'POST', '/v1/windows', 'ml.job=train,ml.phase=training', { id: 'train-1' })).status).toBe(201);

    // The second peer is told exactly what an id nobody opened gets: nothing says the window exists.
    const relabel = await as('127.0.0.2', 'PUT', '/v1/windows/train-1', 'ml.job=stolen');
    const unknown = await as('127.0.0.2', 'PUT', '/v1/windows/never-opened', 'ml.job=stolen');
    expect([relabel.status, relabel.json.message]).toEqual([404, String(unknown.json.message).replace('never-opened', 'train-1')]);
    expect((await as('127.0.0.2', 'DELETE', '/v1/windows/train-1')).status).toBe(404);
    const sameId = await as('127.0.0.2', 'POST', '/v1/windows', 'ml.job=stolen', { id: 'train-1' });
    expect([sameId.status, sameId.json.workload]).toEqual([201, { job: 'stolen' }]);

    // The owner's window is as it opened it, and still the owner's to change and end.
    const heartbeat = await as('127.0.0.1', 'PUT', '/v1/windows/train-1');
    expect([heartbeat.status, heartbeat.json.workload]).toEqual([200, { job: 'train', phase: 'training' }]);
    expect((await as('127.0.0.1', 'DELETE', '/v1/windows/train-1')).status).toBe(204);
    expect(ingest.windows.openCount).toBe(1);
    expect((await as('127.0.0.2', 'DELETE', '/v1/windows/train-1')).status).toBe(204);
    expect(ingest.windows.activitiesBetween(0, Date.now() + 1).map((activity) => activity.workload.job)).toEqual(['train', 'stolen']);
  });

  it('answers 429 with Retry-After past windowClientRatePerSecond, per client address', async () => {
    ingest = await startIngest({ windowClientRatePerSecond: 10 });
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let request = 0; request < 25; request++) {
      const answer = await windowRequest({ ingestUrl: ingest.url, method: 'PUT', path: '/v1/windows/none', localAddress: '127.0.0.1' });
      statuses.push(answer.status);
      retryAfter ??= answer.retryAfter;
    }
    // A burst of 2 s worth (20), then 10 a second: one more 404 at most, on a machine slow enough to take 100 ms here.
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(404));
    expect(statuses.at(-1)).toBe(429);
    expect(retryAfter).toBe('1');
    expect((await windowRequest({ ingestUrl: ingest.url, method: 'PUT', path: '/v1/windows/none', localAddress: '127.0.0.2' })).status).toBe(404);
  });

  it('refuses window requests with 429 while memory is short, as trace ingest does', async () => {
    // The guard reads 200 MiB resident against a 256 MiB memoryLimit: over its 70% soft limit.
    const memory = new MemoryGuard(256 * 2 ** 20, () => ({ residentBytes: 200 * 2 ** 20, oldGeneration: { usedBytes: 0, limitBytes: 2 ** 30 } }));
    ingest = await startIngest({ memory });
    const answer = await windowRequest({ ingestUrl: ingest.url, method: 'POST', path: '/v1/windows', baggage: 'ml.job=j' });
    expect([answer.status, answer.retryAfter, answer.json.message]).toEqual([429, '1', 'resident memory 200 MiB is over 70% of memoryLimit (256 MiB)']);
    expect(ingest.windows.openCount).toBe(0);
  });
});
