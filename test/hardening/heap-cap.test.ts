// The heap guard against a real V8 limit: the built daemon (`node bin/footprint.js start`) runs with
// NODE_OPTIONS=--max-old-space-size=64, as a launcher that caps V8 sets it (the chart did before issue 19), on a
// RAPL fixture with the default attribution lag, so accepted spans stay held. 16 clients flood it
// with protobuf bodies of 1,000 spans over 1,000 models (the queue's span limit and the memory budget
// raised so only the heap can refuse): it answers 429 naming the old generation and its 64 MiB limit, never dies of
// "heap out of memory", keeps serving /metrics, and counts every span it refused as throttled.
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcStatus } from '../../src/ingest/otlp-schema.ts';
import { sampleValue } from '../support/daemon.ts';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { httpExport, serverSpanBatch } from '../support/otlp-export.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const HEAP_MIB = 64;
const CLIENTS = 16;
const SPANS_PER_BODY = 1000;
const MODELS = 1000;
const FLOOD_SECONDS = 15;

let fixture: SysfsFixture;
let daemon: DaemonProcess;
let metricsUrl: string;
let ingestPort: number;

/** A body of vLLM-like SERVER spans (ml.model round-robin over 1,000 models) that ended 100 ms ago. */
function body(offset: number): Buffer {
  return serverSpanBatch({
    count: SPANS_PER_BODY,
    firstId: offset + 1,
    name: 'llm_request',
    endNs: BigInt(Date.now() - 100) * 1_000_000n,
    durationNs: 400_000_000n,
    attributes: (index) => ({ 'ml.model': `model-${(offset + index) % MODELS}`, 'gen_ai.usage.input_tokens': 12, 'gen_ai.usage.output_tokens': 40 }),
  });
}

beforeAll(async () => {
  fixture = createSysfsFixture();
  fixture.setCpuVendor('GenuineIntel', 1);
  fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
  daemon = await spawnDaemon({
    hostRoot: fixture.root,
    flags: ['--ingest-queue-limit', '1000000', '--memory-limit', '1Gi'],
    env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}` },
  });
  ({ metricsUrl, ingestPort } = daemon);
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  fixture?.remove();
});

describe(`the daemon under a ${HEAP_MIB} MiB old generation`, () => {
  it(`refuses a ${CLIENTS}-client flood with 429 and stays up`, { timeout: 90_000 }, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const statuses: Record<number, number> = {};
    const refusals = new Set<string>();
    // Encoding here would be slower than decoding there: one body, its spans ended 100 ms before it was
    // made, is re-sent for 250 ms (ingest keys spans by id only to nest them within one export).
    let current = { payload: body(0), madeMs: Date.now() };
    let sent = 0;
    const endMs = Date.now() + FLOOD_SECONDS * 1000;
    const client = async () => {
      while (Date.now() < endMs && daemon.child.exitCode === null) {
        if (Date.now() - current.madeMs > 250) current = { payload: body(sent), madeMs: Date.now() };
        sent += SPANS_PER_BODY;
        const { status, answer } = await httpExport(agent, ingestPort, current.payload);
        statuses[status] = (statuses[status] ?? 0) + 1;
        // The refusal names how full the old generation was; its shape, limit and threshold are fixed.
        if (status === 429)
          refusals.add((RpcStatus.decode(answer) as unknown as { message: string }).message.replace(/generation \d+ MiB/, 'generation N MiB'));
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    agent.destroy();
    console.log(JSON.stringify({ heapMiB: HEAP_MIB, clients: CLIENTS, seconds: FLOOD_SECONDS, statuses }));

    expect(daemon.child.exitCode, daemon.output()).toBeNull();
    expect(Object.keys(statuses).sort()).toEqual(['200', '429']);
    expect([...refusals]).toEqual([`heap old generation N MiB of its ${HEAP_MIB} MiB limit (refusing above 60%); retry later`]);
    const scrape = await fetch(`${metricsUrl}/metrics`);
    expect(scrape.status).toBe(200);
    const exposition = await scrape.text();
    expect(sampleValue(exposition, 'footprint_ingest_spans_total', { outcome: 'throttled' })).toBe(statuses[429]! * SPANS_PER_BODY);
    expect(sampleValue(exposition, 'footprint_ingest_spans_total', { outcome: 'accepted' })).toBe(statuses[200]! * SPANS_PER_BODY);
  });
});
