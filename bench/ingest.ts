// `npm run bench` part 2: OTLP ingest throughput with the ledger running (JSON and protobuf, one
// connection at a time, bodies encoded before the clock starts) against a bare Node HTTP server that
// only reads the same bodies, and the daemon's RSS after 300 000 spans over 1 000 distinct workloads
// at the default attribution lag.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExportTraceServiceRequest } from '../src/ingest/otlp-schema.ts';
import { spawnDaemon } from '../test/support/daemon-process.ts';
import { sleep } from '../test/support/eventually.ts';
import { rssMiB } from './support.ts';

const SPANS_PER_REQUEST = 1000;
const TOTAL_SPANS = Number(process.env.BENCH_TOTAL_SPANS ?? 300_000);
const TIMED_REQUESTS = 25;
/** Rounds of footprint then the bare server, alternated so both see the same machine load (2 shared cores are noisy). */
const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 5);
/** BENCH_INGEST_FORMATS=protobuf times protobuf only (for a profile of the protobuf path alone). */
const FORMATS = (process.env.BENCH_INGEST_FORMATS ?? 'json,protobuf').split(',') as Format[];
const WORKLOADS = 1000;

function batch(offset: number) {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: SPANS_PER_REQUEST }, (_, index) => ({
    traceId: (offset + index).toString(16).padStart(32, '0'),
    spanId: (offset + index + 1).toString(16).padStart(16, '0'),
    name: 'generate',
    kind: 2,
    startTimeUnixNano: String(nowNs - 500_000_000n),
    endTimeUnixNano: String(nowNs - 100_000_000n),
    attributes: [
      { key: 'ml.model', value: { stringValue: `model-${(offset + index) % WORKLOADS}` } },
      { key: 'ml.phase', value: { stringValue: 'inference' } },
      { key: 'gen_ai.usage.input_tokens', value: { intValue: '12' } },
      { key: 'gen_ai.usage.output_tokens', value: { intValue: '40' } },
    ],
  }));
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] }, scopeSpans: [{ spans }] }] };
}

type Format = 'json' | 'protobuf';

function encode(format: Format, offset: number): string | Uint8Array<ArrayBuffer> {
  const message = batch(offset);
  return format === 'json' ? JSON.stringify(message) : new Uint8Array(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(message)).finish());
}

async function send(url: string, format: Format, offset: number): Promise<void> {
  await post(url, format, encode(format, offset));
}

async function post(url: string, format: Format, body: string | Uint8Array<ArrayBuffer>): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf' }, body });
  if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

/** Spans per second for TIMED_REQUESTS pre-encoded bodies posted one after another. */
async function spansPerSecond(url: string, format: Format, firstOffset: number): Promise<number> {
  const bodies = Array.from({ length: TIMED_REQUESTS }, (_, index) => encode(format, firstOffset + index * SPANS_PER_REQUEST));
  const started = performance.now();
  for (const body of bodies) await post(url, format, body);
  return (TIMED_REQUESTS * SPANS_PER_REQUEST) / ((performance.now() - started) / 1000);
}

/** The anchor: a Node HTTP server that reads each body and answers 200, nothing more. */
async function bareServer(): Promise<{ url: string; close(): void }> {
  const server = createServer((request, response) => {
    request.on('data', () => {});
    request.on('end', () => response.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, close: () => server.close() };
}

export async function benchIngest(hostRoot: string): Promise<string[]> {
  // BENCH_DAEMON_NODE_ARGS='--cpu-prof --cpu-prof-dir=prof' profiles the daemon (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // A memory budget above what 300,000 held spans take: this measures throughput and RSS, not the guard's refusals.
  const daemon = await spawnDaemon({ hostRoot, nodeFlags: nodeArgs, logLevel: 'warn', flags: ['--memory-limit', '1Gi'] });
  const bare = await bareServer();
  const url = `${daemon.ingestUrl}/v1/traces`;
  try {
    const lines = [
      `| OTLP ingest, 1 000 spans per request, sequential, median of ${ROUNDS} alternated rounds | footprint | bare Node server | ratio (goal >= 0.2 for protobuf): median (min-max) |`,
      '|---|---|---|---|',
    ];
    let sent = 0;
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    for (const format of FORMATS) {
      const ours: number[] = [];
      const anchor: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ours.push(await spansPerSecond(url, format, sent));
        anchor.push(await spansPerSecond(bare.url, format, sent));
        sent += TIMED_REQUESTS * SPANS_PER_REQUEST;
      }
      const ratios = ours.map((value, round) => value / anchor[round]!);
      lines.push(
        `| ${format} spans/s | ${Math.round(median(ours))} | ${Math.round(median(anchor))} | ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) |`,
      );
    }
    while (sent < TOTAL_SPANS) {
      await send(url, 'protobuf', sent);
      sent += SPANS_PER_REQUEST;
    }
    await sleep(5000);

    lines.push(
      `| RSS after ${sent.toLocaleString('en')} protobuf spans over ${WORKLOADS} models, default lag (MiB; goal <= 160) | ${rssMiB(daemon.pid).toFixed(1)} | | |`,
    );
    return lines;
  } finally {
    bare.close();
    await daemon.stop();
  }
}
