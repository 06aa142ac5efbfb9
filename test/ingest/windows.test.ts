import { afterEach, describe, expect, it } from 'vitest';
import { WindowStore } from '../../src/ingest/windows.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { sleep } from '../support/eventually.ts';

describe('WindowStore', () => {
  it('splits a window into segments on a phase change, expires it at its last heartbeat and forgets old segments', () => {
    let nowMs = 1_000_000;
    const store = new WindowStore({ defaultTtlMs: 10_000, retainMs: 60_000, now: () => nowMs });
    store.openWindow('w', { workload: { model: 'm', phase: 'training' }, deviceIds: ['GPU-0'] }, 'client');
    nowMs += 5000;
    store.heartbeat('w', { workload: { model: 'm', phase: 'checkpointing' } }, 'client');
    nowMs += 3000;
    expect(store.activitiesBetween(0, nowMs)).toEqual([
      { source: 'window', workload: { model: 'm', phase: 'training' }, deviceIds: ['GPU-0'], startMs: 1_000_000, endMs: 1_005_000 },
      { source: 'window', workload: { model: 'm', phase: 'checkpointing' }, deviceIds: ['GPU-0'], startMs: 1_005_000, endMs: 1_008_000 },
    ]);
    expect(store.activitiesBetween(1_006_000, 1_007_000).map((activity) => activity.workload.phase)).toEqual(['checkpointing']);
    nowMs += 20_000; // past the TTL: ends at the last heartbeat (1_005_000), so its last segment is empty
    expect(store.openCount).toBe(0);
    expect(store.activitiesBetween(0, nowMs).map((activity) => activity.endMs)).toEqual([1_005_000]);
    nowMs += 60_000;
    expect(store.activitiesBetween(0, nowMs)).toEqual([]);
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
});
