// Seeded fuzzing of both trace transports: 20,000 mutated ExportTraceServiceRequest messages each
// through POST /v1/traces (protobuf) and TraceService/Export (gRPC). Every answer must be a
// protocol answer for bad input (HTTP 200/400, gRPC OK/INVALID_ARGUMENT), never a 5xx or INTERNAL;
// every activity that gets through must have a bounded time range; the listeners must still take
// a good request afterwards.
import { Client, credentials, status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExportTraceServiceRequest } from '../../src/ingest/otlp-schema.ts';
import { MAX_FUTURE_SKEW_MS } from '../../src/ingest/spans.ts';
import { DEFAULT_SPAN_LIMITS } from '../../src/ingest/server.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { grpcExport } from '../support/otlp-export.ts';

const CASES = 20_000;
const CONCURRENCY = 32;
const NOW_NS = BigInt(Date.now()) * 1_000_000n;

/** Seeds of well-formed requests: nested spans, GenAI and OpenInference attributes, odd times. */
function seedMessages(): Buffer[] {
  const id = (hex: string) => Buffer.from(hex, 'hex');
  const attribute = (key: string, value: Record<string, unknown>) => ({ key, value });
  const span = (spanId: string, parent: string | undefined, kind: number, startNs: bigint, endNs: bigint, attributes: unknown[]) => ({
    traceId: id('0af7651916cd43dd8448eb211c80319c'),
    spanId: id(spanId),
    ...(parent && { parentSpanId: id(parent) }),
    name: 'span',
    kind,
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(endNs),
    attributes,
  });
  const requests = [
    [
      span('b7ad6b7169203331', undefined, 2, NOW_NS, NOW_NS + 250_000_000n, [attribute('http.route', { stringValue: '/v1/chat' })]),
      span('b7ad6b7169203332', 'b7ad6b7169203331', 1, NOW_NS + 1n, NOW_NS + 2n, [
        attribute('gen_ai.request.model', { stringValue: 'm' }),
        attribute('gen_ai.usage.input_tokens', { intValue: 12 }),
        attribute('hw.id', { arrayValue: { values: [{ stringValue: 'GPU-0' }] } }),
      ]),
    ],
    [
      span('b7ad6b7169203333', undefined, 2, NOW_NS, NOW_NS + 1_000_000n, [
        attribute('gen_ai.usage.prompt_tokens', { intValue: 3 }),
        attribute('gen_ai.latency.e2e', { doubleValue: 0.5 }),
      ]),
    ],
    [
      span('b7ad6b7169203334', undefined, 1, NOW_NS, NOW_NS + 5n, [
        attribute('llm.model_name', { stringValue: 'x' }),
        attribute('llm.token_count.prompt', { intValue: 1 }),
      ]),
    ],
    [span('b7ad6b7169203335', 'b7ad6b7169203335', 2, NOW_NS, NOW_NS + 5n, [attribute('ml.model', { stringValue: 'cycle' })])],
  ];
  return requests.map((spans) =>
    Buffer.from(
      ExportTraceServiceRequest.encode(
        ExportTraceServiceRequest.fromObject({
          resourceSpans: [{ resource: { attributes: [attribute('service.name', { stringValue: 'svc' })] }, scopeSpans: [{ spans }] }],
        }),
      ).finish(),
    ),
  );
}

/** Byte-level mutations of a seed: flips, overwrites, inserts, deletions, truncation, splices. */
function mutatedMessages(seed: number): Buffer[] {
  const seeds = seedMessages();
  const mutation = fc.tuple(
    fc.nat(seeds.length - 1),
    fc.array(fc.tuple(fc.nat(5), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
  );
  return fc.sample(mutation, { seed, numRuns: CASES }).map(([which, edits]) => {
    let bytes = Buffer.from(seeds[which]!);
    for (const [kind, position, value] of edits) {
      const at = bytes.length === 0 ? 0 : position % bytes.length;
      if (kind === 0) bytes[at] = (bytes[at] ?? 0) ^ (1 << (value % 8));
      else if (kind === 1) bytes[at] = value;
      else if (kind === 2) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([value]), bytes.subarray(at)]);
      else if (kind === 3) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
      else if (kind === 4) bytes = bytes.subarray(0, at);
      else bytes = Buffer.concat([bytes.subarray(0, at), seeds[value % seeds.length]!.subarray(position % 64)]);
    }
    return bytes;
  });
}

async function inPool<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

let ingest: IngestHarness;
beforeAll(async () => {
  ingest = await startIngest({ queueLimitSpans: 1_000_000 });
});
afterAll(async () => ingest?.close());

function expectBoundedActivities(): void {
  const latestEndMs = Date.now() + MAX_FUTURE_SKEW_MS;
  for (const activity of ingest.sink.activities) {
    expect(Number.isFinite(activity.startMs) && activity.startMs > 0 && activity.startMs <= activity.endMs && activity.endMs <= latestEndMs).toBe(true);
    expect(activity.endMs - activity.startMs).toBeLessThanOrEqual(DEFAULT_SPAN_LIMITS.maxSpanDurationMs);
  }
}

describe('fuzzed protobuf requests', () => {
  it(`POST /v1/traces answers ${CASES} mutated messages with 200 or 400 only`, async () => {
    const statuses = new Map<number, number>();
    await inPool(mutatedMessages(11), async (body) => {
      const response = await fetch(`${ingest.url}/v1/traces`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf' },
        body: new Uint8Array(body),
      });
      await response.arrayBuffer();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    });
    expect([...statuses.keys()].sort()).toEqual([200, 400]);
    expect([...statuses.values()].reduce((sum, count) => sum + count)).toBe(CASES);
    expectBoundedActivities();
  }, 240_000);

  it(`TraceService/Export answers ${CASES} mutated messages with OK or INVALID_ARGUMENT only`, async () => {
    const client = new Client(ingest.grpcAddress, credentials.createInsecure());
    const codes = new Map<number, number>();
    await inPool(mutatedMessages(12), async (body) => {
      const code = (await grpcExport(client, body)).error?.code ?? status.OK;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    });
    client.close();
    expect([...codes.keys()].sort()).toEqual([status.OK, status.INVALID_ARGUMENT]);
    expect([...codes.values()].reduce((sum, count) => sum + count)).toBe(CASES);
    expectBoundedActivities();
  }, 240_000);
});
