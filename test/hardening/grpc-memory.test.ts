// Memory attacks on the OTLP/gRPC listener of the real daemon (`node bin/footprint.js start`, run
// `npm run build` first), under the chart's Node flags and under plain `npm start` (no flags), with
// and without a bearer token (issue 19). Its resident set must stay <= 256 MiB:
// - F1: 4 connections x 31 calls of partial 4 MiB messages, and on each connection a 0-byte call
//   every 4 s to keep it from the idle timeout. Without a token, each DATA chunk is charged to the
//   64 MiB in-flight budget before grpc-js holds it; with one, no call's stream is read at all.
// - F6: 256 concurrent gzip messages that each inflate to the 4 MiB message limit. Without a token,
//   each is charged its worst inflated size before grpc-js inflates it; with one, none is read.
// The connections of both are closed at the idle timeout, and an exporter still gets through.
import { Client, Metadata, credentials, status } from '@grpc/grpc-js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { residentBytes, spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { grpcMessage, messagePrefix, rawCall, rawSession, type RawCallEnd } from '../support/grpc-raw.ts';
import { encodeTraces, grpcExport } from '../support/otlp-export.ts';

const MAX_RSS_BYTES = 256 * 2 ** 20;
const MESSAGE_LIMIT_BYTES = 4 * 1024 * 1024;
const IDLE_TIMEOUT_MS = 10_000;
/** The chart's Node settings at its default 512Mi limit (test/helm/chart.test.ts asserts them). */
const CHART_ENV = { NODE_OPTIONS: '--max-old-space-size=64 --max-semi-space-size=1 --v8-pool-size=1', MALLOC_ARENA_MAX: '2' };
const TOKEN = 's3cret';
const MiB = 2 ** 20;

/** Samples the daemon's RSS every 100 ms until `attack` settles; resolves with its result and the peak. */
async function peakRssDuring<T>(pid: number, attack: Promise<T>): Promise<{ result: T; peakBytes: number }> {
  let peakBytes = residentBytes(pid);
  const sampler = setInterval(() => (peakBytes = Math.max(peakBytes, residentBytes(pid))), 100);
  try {
    return { result: await attack, peakBytes };
  } finally {
    clearInterval(sampler);
  }
}

/** F1: partial 4 MiB messages, 31 calls on each of 4 connections, and a 0-byte call every 4 s on each. */
async function partialMessages(address: string): Promise<{ closedAfterMs: number[]; ends: RawCallEnd[] }> {
  const partial = Buffer.alloc(MESSAGE_LIMIT_BYTES - 1);
  const connections = Array.from({ length: 4 }, () => {
    const connection = rawSession(address);
    const calls = Array.from({ length: 31 }, () => {
      const call = rawCall(connection.session);
      call.stream.write(messagePrefix(MESSAGE_LIMIT_BYTES));
      call.stream.write(partial);
      return call;
    });
    const keepAlive = setInterval(() => {
      if (!connection.session.closed && !connection.session.destroyed) rawCall(connection.session).stream.end(messagePrefix(0));
    }, 4000);
    connection.closed.finally(() => clearInterval(keepAlive));
    return { ...connection, calls };
  });
  const closedAfterMs = await Promise.all(connections.map(({ closed }) => closed));
  const ends = await Promise.all(connections.flatMap(({ calls }) => calls.map(({ ended }) => ended)));
  return { closedAfterMs, ends };
}

/** F6: 256 concurrent gzip messages, 32 on each of 8 connections, each inflating to the message limit. */
async function gzipBombs(address: string, token?: string): Promise<{ closedAfterMs: number[]; ends: RawCallEnd[] }> {
  const bomb = grpcMessage(gzipSync(Buffer.alloc(MESSAGE_LIMIT_BYTES)), true);
  const connections = Array.from({ length: 8 }, () => {
    const connection = rawSession(address);
    const calls = Array.from({ length: 32 }, () => {
      const call = rawCall(connection.session, { encoding: 'gzip', ...(token !== undefined && { token }) });
      call.stream.end(bomb);
      return call;
    });
    return { ...connection, calls };
  });
  const ends = await Promise.all(connections.flatMap(({ calls }) => calls.map(({ ended }) => ended)));
  const closedAfterMs = await Promise.all(connections.map(({ closed }) => closed));
  return { closedAfterMs, ends };
}

/** How many calls ended with each grpc-status (`rst <code>` for a reset without one). */
function statusCounts(ends: RawCallEnd[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const end of ends) {
    const key = String(end.grpcStatus ?? `rst ${end.rstCode}`);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const NOW_NS = BigInt(Date.now()) * 1_000_000n;
const GOOD = encodeTraces([
  {
    traceId: Buffer.alloc(16, 1),
    spanId: Buffer.alloc(8, 2),
    name: 'ok',
    kind: 2,
    startTimeUnixNano: String(NOW_NS),
    endTimeUnixNano: String(NOW_NS + 1_000_000n),
  },
]);

describe.each([
  { launcher: 'the chart', env: CHART_ENV },
  { launcher: 'plain npm start', env: {} },
])('gRPC memory attacks under $launcher', ({ launcher, env }) => {
  describe.each([{ token: TOKEN }, { token: undefined }])('token $token', ({ token }) => {
    let daemon: DaemonProcess;
    const metadata = new Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    beforeAll(async () => {
      const tokenFlags: string[] = [];
      if (token) {
        const tokenFile = join(mkdtempSync(join(tmpdir(), 'footprint-token-')), 'token');
        writeFileSync(tokenFile, token);
        tokenFlags.push('--ingest-token-file', tokenFile);
      }
      daemon = await spawnDaemon({ env, flags: [...tokenFlags, '--ingest-idle-timeout', `${IDLE_TIMEOUT_MS}ms`] });
    }, 60_000);
    afterAll(() => daemon?.stop());

    const exporterGetsThrough = async () => {
      const client = new Client(daemon.grpcAddress, credentials.createInsecure());
      const { error } = await grpcExport(client, GOOD, metadata);
      client.close();
      return error;
    };

    /** Runs an attack while sampling the daemon's RSS, and logs its figures (docs/security.md). */
    const attack = async (name: string, run: (address: string) => ReturnType<typeof partialMessages>) => {
      const baselineBytes = residentBytes(daemon.pid);
      const measured = await peakRssDuring(daemon.pid, run(daemon.grpcAddress));
      const { result, peakBytes } = measured;
      console.log(
        JSON.stringify({
          attack: name,
          launcher,
          token: Boolean(token),
          baselineMiB: Math.round(baselineBytes / MiB),
          peakMiB: Math.round(peakBytes / MiB),
          closedAfterMs: result.closedAfterMs,
          statuses: statusCounts(result.ends),
        }),
      );
      return measured;
    };

    it('F1: partial 4 MiB messages on 4 x 31 calls, kept alive by 0-byte calls', { timeout: 60_000 }, async () => {
      const { result, peakBytes } = await attack('F1', partialMessages);
      expect(peakBytes).toBeLessThanOrEqual(MAX_RSS_BYTES);
      // No call's bytes are activity: each connection is closed at its idle timeout (timers and a loaded machine aside).
      expect(Math.max(...result.closedAfterMs)).toBeLessThan(IDLE_TIMEOUT_MS + 3000);
      if (token) expect(statusCounts(result.ends)).toEqual({ [status.UNAUTHENTICATED]: 124 });
      else expect(result.ends.filter((end) => end.grpcStatus === status.RESOURCE_EXHAUSTED).length).toBeGreaterThan(0);
      expect(await exporterGetsThrough()).toBeNull();
    });

    it('F6: 256 concurrent gzip messages that each inflate to 4 MiB', { timeout: 60_000 }, async () => {
      const { result, peakBytes } = await attack('F6', gzipBombs);
      expect(peakBytes).toBeLessThanOrEqual(MAX_RSS_BYTES);
      // With a token none is read; without, those the budget takes are inflated and are no ExportTraceServiceRequest.
      if (token) expect(statusCounts(result.ends)).toEqual({ [status.UNAUTHENTICATED]: 256 });
      else expect(Object.keys(statusCounts(result.ends)).sort()).toEqual([String(status.INVALID_ARGUMENT), String(status.RESOURCE_EXHAUSTED)]);
      expect(await exporterGetsThrough()).toBeNull();
    });
  });
});
