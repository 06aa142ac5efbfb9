// `npm run bench` part 2: OTLP ingest throughput with the ledger running (JSON and protobuf, one
// connection at a time), and the daemon's RSS after 1 million spans over 1 000 distinct workloads.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ExportTraceServiceRequest } from '../src/ingest/otlp-schema.ts';

const SPANS_PER_REQUEST = 1000;
const TOTAL_SPANS = Number(process.env.BENCH_TOTAL_SPANS ?? 1_000_000);
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

async function send(url: string, format: 'json' | 'protobuf', offset: number): Promise<void> {
  const message = batch(offset);
  const body = format === 'json' ? JSON.stringify(message) : Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(message)).finish());
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf' }, body });
  if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

export async function benchIngest(hostRoot: string, port: number, metricsPort: number): Promise<string[]> {
  const daemon = spawn(process.execPath, ['bin/footprint.js', 'start', '--host-root', hostRoot, '--listen', `127.0.0.1:${metricsPort}`, '--ingest-listen', `127.0.0.1:${port}`, '--attribution-lag', '2s', '--log-level', 'warn'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/v1/traces`;
  try {
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const lines = ['| OTLP ingest, 1 000 spans per request, sequential | value |', '|---|---|'];
    let sent = 0;
    for (const format of ['json', 'protobuf'] as const) {
      const requests = 50;
      const started = performance.now();
      for (let index = 0; index < requests; index++, sent += SPANS_PER_REQUEST) await send(url, format, sent);
      const spansPerSecond = (requests * SPANS_PER_REQUEST) / ((performance.now() - started) / 1000);
      lines.push(`| ${format} spans/s | ${Math.round(spansPerSecond)} |`);
    }
    while (sent < TOTAL_SPANS) {
      await send(url, 'protobuf', sent);
      sent += SPANS_PER_REQUEST;
    }
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const rssKib = Number(readFileSync(`/proc/${daemon.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]);
    lines.push(`| RSS after ${sent.toLocaleString('en')} spans over ${WORKLOADS} models (MiB) | ${(rssKib / 1024).toFixed(1)} |`);
    return lines;
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.once('exit', resolve));
  }
}
