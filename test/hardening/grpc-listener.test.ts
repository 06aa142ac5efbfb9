// The OTLP/gRPC listener (:4317) under the same abuse as the HTTP one: silent sockets on the real
// daemon (a child process, `node bin/footprint.js start`) are closed at the idle timeout while
// /metrics answers and an exporter still gets through; connections over the shared ingest cap are
// refused on accept; exports past the shared in-flight byte budget get RESOURCE_EXHAUSTED with the
// OTLP RetryInfo detail. Run `npm run build` first.
import { Client, connectivityState, credentials, status } from '@grpc/grpc-js';
import { connect as connectHttp2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/ingest/byte-budget.ts';
import { RpcStatus } from '../../src/ingest/otlp-schema.ts';
import { EXPORT_METHOD_PATH } from '../../src/ingest/traces-grpc.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { sleep } from '../support/eventually.ts';
import { grpcExport, serverSpanBatch } from '../support/otlp-export.ts';

const SILENT_SOCKETS = 1200;
const IDLE_TIMEOUT_MS = 5000;

/** Batches of FastAPI-like SERVER spans that ended now, as the OTel SDK BatchSpanProcessor sends them. */
function exportRequest(spanCount: number): Buffer {
  return serverSpanBatch({
    count: spanCount,
    name: 'POST /v1/chat/completions',
    endNs: BigInt(Date.now()) * 1_000_000n,
    durationNs: 200_000_000n,
    attributes: () => ({ 'gen_ai.request.model': 'meta-llama/Llama-3.1-8B', 'gen_ai.usage.input_tokens': 128 }),
  });
}

const exportOver = async (client: Client, body: Buffer) => (await grpcExport(client, body)).error;

/**
 * Opens a socket that never sends a byte; `closed` resolves when the server closes it. It reads
 * what the server sends (HTTP/2 servers send SETTINGS at once), or its end would never be seen.
 */
function silentSocket(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const closed = new Promise<number>((onClose) => socket.on('close', () => onClose(Date.now())));
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('connect', () => resolve({ socket, closed }));
  });
}

describe('gRPC listener of the real daemon', () => {
  let daemon: DaemonProcess;
  let metricsUrl: string;
  let grpcPort: number;

  beforeAll(async () => {
    daemon = await spawnDaemon({ flags: ['--ingest-idle-timeout', `${IDLE_TIMEOUT_MS}ms`, '--ingest-max-connections', '1500'] });
    ({ metricsUrl, grpcPort } = daemon);
  }, 60_000);
  afterAll(() => daemon?.stop());

  it(`closes ${SILENT_SOCKETS} silent sockets at the ${IDLE_TIMEOUT_MS} ms idle timeout while /metrics answers and an exporter gets through`, {
    timeout: 60_000,
  }, async () => {
    const startMs = Date.now();
    const sockets = await Promise.all(Array.from({ length: SILENT_SOCKETS }, () => silentSocket(grpcPort)));
    const client = new Client(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    expect(await exportOver(client, exportRequest(4))).toBeNull();
    const scrapeStatuses: number[] = [];
    let allClosed = false;
    const closedAt = Promise.all(sockets.map(({ closed }) => closed)).finally(() => (allClosed = true));
    while (!allClosed && Date.now() - startMs < 30_000) {
      scrapeStatuses.push((await fetch(`${metricsUrl}/metrics`)).status);
      await sleep(250);
    }
    const closeTimesMs = (await closedAt).map((atMs) => atMs - startMs);
    client.close();
    console.log(
      JSON.stringify({
        silentSockets: SILENT_SOCKETS,
        firstClosedAfterMs: Math.min(...closeTimesMs),
        lastClosedAfterMs: Math.max(...closeTimesMs),
        scrapes: scrapeStatuses.length,
      }),
    );
    // Opened within the first second, each is closed at its own connect + the idle timeout (timer slack aside).
    expect(Math.min(...closeTimesMs)).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 100);
    expect(Math.max(...closeTimesMs)).toBeLessThan(IDLE_TIMEOUT_MS + 3000);
    expect(scrapeStatuses.filter((status) => status !== 200)).toEqual([]);
  });
});

describe('gRPC listener limits (in-process ingest server)', () => {
  let ingest: IngestHarness | undefined;
  const open: Socket[] = [];
  afterEach(async () => {
    for (const socket of open.splice(0)) socket.destroy();
    await ingest?.close();
    ingest = undefined;
  });

  it('shares ingestMaxConnections with the HTTP listener: connections over the cap are closed on accept', { timeout: 30_000 }, async () => {
    ingest = await startIngest({ connections: { idleTimeoutMs: 10_000, maxConnections: 4 } });
    const httpPort = Number(new URL(ingest.url).port);
    const grpcPort = Number(ingest.grpcAddress.split(':')[1]);
    const held = [await silentSocket(httpPort), await silentSocket(httpPort), await silentSocket(grpcPort), await silentSocket(grpcPort)];
    open.push(...held.map(({ socket }) => socket));
    await sleep(300);
    expect(held.map(({ socket }) => socket.closed)).toEqual([false, false, false, false]);

    const overGrpc = await silentSocket(grpcPort);
    const overHttp = await silentSocket(httpPort);
    const closedWithinMs = async (closed: Promise<number>, ms: number) => Promise.race([closed.then(() => true), sleep(ms).then(() => false)]);
    expect([await closedWithinMs(overGrpc.closed, 1000), await closedWithinMs(overHttp.closed, 1000)]).toEqual([true, true]);
    const client = new Client(ingest.grpcAddress, credentials.createInsecure());
    expect((await exportOver(client, exportRequest(1)))?.code).toBe(status.UNAVAILABLE);

    // One HTTP connection closes; its place goes to the next gRPC connection, which exports.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await sleep(200);
    // A channel of its own: the refused one's subchannel is in reconnect backoff.
    const admitted = new Client(ingest.grpcAddress, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    expect(await exportOver(admitted, exportRequest(1))).toBeNull();
    client.close();
    admitted.close();
  });

  it('closes a connection whose stream never completes its message at the idle timeout, and keeps an exporter that comes back', {
    timeout: 30_000,
  }, async () => {
    const idleTimeoutMs = 1000;
    ingest = await startIngest({ connections: { idleTimeoutMs, maxConnections: 16 } });
    const exporter = new Client(ingest.grpcAddress, credentials.createInsecure());
    expect(await exportOver(exporter, exportRequest(1))).toBeNull();

    // gRPC framing (doc/PROTOCOL-HTTP2.md): a message announced as 4,096 bytes, none of them sent.
    const startMs = Date.now();
    const session = connectHttp2(`http://${ingest.grpcAddress}`);
    session.on('error', () => undefined);
    const closedAfterMs = new Promise<number>((resolve) => session.on('close', () => resolve(Date.now() - startMs)));
    const stream = session.request({ ':method': 'POST', ':path': EXPORT_METHOD_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.write(Buffer.from([0, 0x00, 0x00, 0x10, 0x00]));
    const stalledClosedMs = await closedAfterMs;
    expect(stalledClosedMs).toBeGreaterThanOrEqual(idleTimeoutMs - 100);
    expect(stalledClosedMs).toBeLessThan(idleTimeoutMs + 1000);

    // Past the idle timeout the exporter's connection went (its channel is back to IDLE); its next export reconnects.
    await sleep(idleTimeoutMs + 500);
    expect(exporter.getChannel().getConnectivityState(false)).toBe(connectivityState.IDLE);
    expect(await exportOver(exporter, exportRequest(1))).toBeNull();
    exporter.close();
    expect(ingest.sink.activities.length).toBe(2);
  });

  it('refuses exports past the in-flight byte budget it shares with OTLP/HTTP with RESOURCE_EXHAUSTED and RetryInfo', { timeout: 30_000 }, async () => {
    const budget = new ByteBudget(256 * 1024);
    ingest = await startIngest({ budget, queueLimitSpans: 1_000_000 });
    const batch = exportRequest(512);
    const small = exportRequest(1);
    // A stalled OTLP/HTTP body holds all but half a batch of the budget.
    const stalledBytes = budget.limitBytes - Math.floor(batch.length / 2);
    const stalled = connect(Number(new URL(ingest.url).port), '127.0.0.1');
    stalled.on('error', () => undefined);
    open.push(stalled);
    stalled.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${512 * 1024}\r\n\r\n`);
    stalled.write(Buffer.alloc(stalledBytes, 0x0a));
    for (let attempt = 0; attempt < 100 && budget.heldBytes < stalledBytes; attempt++) await sleep(20);
    expect(budget.heldBytes).toBe(stalledBytes);

    const client = new Client(ingest.grpcAddress, credentials.createInsecure());
    const flood = await Promise.all(Array.from({ length: 64 }, () => exportOver(client, batch)));
    expect(flood.map((error) => error?.code)).toEqual(Array(64).fill(status.RESOURCE_EXHAUSTED));
    const refusal = flood[0]!;
    // Message bytes are charged as their DATA frames arrive: the refused call finds the stalled body
    // and the frames of the flood's calls that arrived before its own.
    const held = /^ingest holds (\d+) body bytes in flight, the limit is 262144 \(ingestMaxInflightBytes\); retry later$/.exec(refusal.details);
    expect(Number(held?.[1])).toBeGreaterThanOrEqual(stalledBytes);
    expect(Number(held?.[1])).toBeLessThanOrEqual(budget.limitBytes);
    const detail = RpcStatus.decode(refusal.metadata.get('grpc-status-details-bin')[0] as Buffer);
    expect([detail.code, detail.details.map((packed: { type_url: string }) => packed.type_url)]).toEqual([
      status.RESOURCE_EXHAUSTED,
      ['type.googleapis.com/google.rpc.RetryInfo'],
    ]);
    expect(budget.heldBytes).toBe(stalledBytes);
    // What still fits goes through.
    expect(await exportOver(client, small)).toBeNull();

    stalled.destroy();
    for (let attempt = 0; attempt < 100 && budget.heldBytes > 0; attempt++) await sleep(20);
    expect(budget.heldBytes).toBe(0);
    expect(await exportOver(client, batch)).toBeNull();
    expect(budget.heldBytes).toBe(0);
    client.close();
    expect(ingest.sink.activities.length).toBe(1 + 512);
  });
});
