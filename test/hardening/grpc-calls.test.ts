// Hostile OTLP/gRPC calls against the real daemon (`node bin/footprint.js start`, run `npm run build`
// first), sent with node:http2 as no client library would send them (issue 19):
// - F2: complete 4 MiB messages without END_STREAM fill the in-flight byte budget, and a client never
//   opens its receive window; each is cut at the body timeout, and a legitimate OTLP/gRPC and
//   OTLP/HTTP export sent during the attack succeeds within the body timeout and a little slack;
// - F9: two messages on one unary call get an error status and the connection is still idle-closed;
// - the HTTP/2 settings the listener announces.
import { Client, credentials, status } from '@grpc/grpc-js';
import { constants as http2 } from 'node:http2';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { sleep } from '../support/eventually.ts';
import { grpcMessage, messagePrefix, rawCall, rawSession } from '../support/grpc-raw.ts';
import { encodeTraces, grpcExport, httpExport } from '../support/otlp-export.ts';

const BODY_TIMEOUT_MS = 3000;
/** Longer than the body timeout, so the deadline, not the idle timeout, ends the stalled calls. */
const IDLE_TIMEOUT_MS = 5000;
const MESSAGE_BYTES = 4 * 1024 * 1024;
/** Timers, a loaded machine's scheduling and an exporter's retry interval. */
const SLACK_MS = 1500;

const NOW_NS = BigInt(Date.now()) * 1_000_000n;
const oneSpan = (name: string) =>
  encodeTraces([
    {
      traceId: Buffer.alloc(16, 1),
      spanId: Buffer.alloc(8, 2),
      name,
      kind: 2,
      startTimeUnixNano: String(NOW_NS),
      endTimeUnixNano: String(NOW_NS + 100_000_000n),
    },
  ]);

let daemon: DaemonProcess;

beforeAll(async () => {
  // A memory budget far above what the held messages take, so only the in-flight byte budget refuses
  // (64 MiB of held messages put RSS over the default budget's soft limit until a GC: memory-budget.test.ts covers that).
  daemon = await spawnDaemon({
    flags: ['--ingest-body-timeout', `${BODY_TIMEOUT_MS}ms`, '--ingest-idle-timeout', `${IDLE_TIMEOUT_MS}ms`, '--memory-limit', '1Gi'],
  });
}, 60_000);
afterAll(() => daemon?.stop());

/** Retries an export every 200 ms until it succeeds; resolves with the ms since `startMs`. */
async function untilExported(exportOnce: () => Promise<boolean>, startMs: number, giveUpMs: number): Promise<number> {
  while (Date.now() - startMs < giveUpMs) {
    if (await exportOnce()) return Date.now() - startMs;
    await sleep(200);
  }
  return Number.POSITIVE_INFINITY;
}

describe('OTLP/gRPC calls that never finish (F2)', () => {
  it('cuts messages without END_STREAM at the body timeout; exports refused meanwhile get through then', { timeout: 60_000 }, async () => {
    const startMs = Date.now();
    // 16 complete messages without END_STREAM, each 4 MiB with its prefix: the whole 64 MiB budget.
    // One at a time, so each is complete before the next starts and none is refused.
    const holder = rawSession(daemon.grpcAddress);
    const held = [];
    for (let index = 0; index < 16; index++) {
      const call = rawCall(holder.session);
      call.stream.write(grpcMessage(Buffer.alloc(MESSAGE_BYTES - 5)));
      held.push(call);
      await sleep(100);
    }

    const client = new Client(daemon.grpcAddress, credentials.createInsecure());
    const agent = new Agent({ keepAlive: true });
    // While the budget is held, exports are refused...
    expect((await grpcExport(client, oneSpan('refused'))).error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await httpExport(agent, daemon.ingestPort, oneSpan('refused'))).status).not.toBe(200);
    // ...until the body timeout of the first held call.
    const [grpcAfterMs, httpAfterMs] = await Promise.all([
      untilExported(async () => (await grpcExport(client, oneSpan('legit-grpc'))).error === null, startMs, 20_000),
      untilExported(async () => (await httpExport(agent, daemon.ingestPort, oneSpan('legit-http'))).status === 200, startMs, 20_000),
    ]);
    const heldEnds = await Promise.all(held.map(({ ended }) => ended));
    const holderClosedMs = await holder.closed;
    client.close();
    agent.destroy();
    console.log(
      JSON.stringify({
        grpcAfterMs,
        httpAfterMs,
        heldStatuses: heldEnds.map((end) => end.grpcStatus),
        heldEndedAfterMs: Math.max(...heldEnds.map((end) => end.afterMs)),
        holderClosedMs,
      }),
    );
    expect(grpcAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
    expect(grpcAfterMs).toBeLessThan(BODY_TIMEOUT_MS + SLACK_MS);
    expect(httpAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
    expect(httpAfterMs).toBeLessThan(BODY_TIMEOUT_MS + SLACK_MS);
    expect(heldEnds.map((end) => end.grpcStatus)).toEqual(Array(16).fill(status.DEADLINE_EXCEEDED));
    expect(Math.max(...heldEnds.map((end) => end.afterMs))).toBeLessThan(BODY_TIMEOUT_MS + SLACK_MS);
    // Stalled calls are not activity: the holder's connection is closed at its idle timeout.
    expect(holderClosedMs).toBeLessThan(IDLE_TIMEOUT_MS + SLACK_MS);
  });

  it('resets a call whose client never opens its receive window at the body timeout', { timeout: 30_000 }, async () => {
    // The response to its export can never be sent, so its status never is.
    const unread = rawSession(daemon.grpcAddress, { initialWindowSize: 0 });
    const stuck = rawCall(unread.session);
    stuck.stream.end(grpcMessage(oneSpan('stuck')));
    const stuckEnd = await stuck.ended;
    expect(stuckEnd.rstCode).toBe(http2.NGHTTP2_CANCEL);
    expect(stuckEnd.afterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
    expect(stuckEnd.afterMs).toBeLessThan(BODY_TIMEOUT_MS + SLACK_MS);
    // Its call exported a span, the connection's last activity: it is closed an idle timeout later.
    expect(await unread.closed).toBeLessThan(BODY_TIMEOUT_MS + IDLE_TIMEOUT_MS + SLACK_MS);
  });
});

describe('OTLP/gRPC unary calls (F9)', () => {
  it('answers INTERNAL to a second message on a unary call, and still closes the connection at the idle timeout', { timeout: 30_000 }, async () => {
    const { session, closed } = rawSession(daemon.grpcAddress);
    const call = rawCall(session);
    call.stream.write(grpcMessage(oneSpan('first')));
    call.stream.end(grpcMessage(oneSpan('second')));
    const end = await call.ended;
    expect([end.grpcStatus, end.grpcMessage]).toEqual([status.INTERNAL, 'a unary call takes one request message; a second one arrived']);
    const closedAfterMs = await closed;
    expect(closedAfterMs).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 100);
    expect(closedAfterMs).toBeLessThan(IDLE_TIMEOUT_MS + SLACK_MS);
  });

  it('cuts 0-byte messages without END_STREAM at the body timeout, and they do not keep the connection from its idle timeout', {
    timeout: 30_000,
  }, async () => {
    const { session, closed } = rawSession(daemon.grpcAddress);
    const calls = Array.from({ length: 8 }, () => {
      const call = rawCall(session);
      call.stream.write(messagePrefix(0));
      return call;
    });
    const closedAfterMs = await closed;
    const ends = await Promise.all(calls.map(({ ended }) => ended));
    expect(closedAfterMs).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 100);
    expect(closedAfterMs).toBeLessThan(IDLE_TIMEOUT_MS + SLACK_MS);
    expect(ends.map((end) => end.grpcStatus)).toEqual(Array(8).fill(status.DEADLINE_EXCEEDED));
    expect(Math.max(...ends.map((end) => end.afterMs))).toBeLessThan(BODY_TIMEOUT_MS + SLACK_MS);
  });

  it('announces its HTTP/2 settings: 32 streams per connection, 16 KiB frames, a 64 KiB window per stream', async () => {
    const { session } = rawSession(daemon.grpcAddress);
    const settings = await new Promise<Record<string, unknown>>((resolve) => session.once('remoteSettings', (remote) => resolve({ ...remote })));
    session.destroy();
    expect(settings).toMatchObject({ maxConcurrentStreams: 32, maxFrameSize: 16_384, initialWindowSize: 65_535 });
  });
});
