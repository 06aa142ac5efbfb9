// Seeded fuzzing of the real daemon's trace receivers: 20,000 mutated protobuf and 20,000 mutated
// JSON bodies through POST /v1/traces, and 20,000 mutated protobuf messages through the OTLP/gRPC
// TraceService/Export (fixed seeds): no 5xx (gRPC codes mapped to HTTP), no dropped connection, and
// the daemon still answers and still accepts a good export afterwards. The long campaign is
// `npm run fuzz` (docs/benchmarks.md).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { grpcTransport, httpTransport, runCampaign, seedBodies, type FuzzEncoding, type FuzzTransport } from '../support/otlp-fuzz.ts';

const CASES = 20_000;
const CAMPAIGNS: Array<{ name: string; encoding: FuzzEncoding; seed: number; transport: () => FuzzTransport }> = [
  { name: 'OTLP/HTTP protobuf', encoding: 'protobuf', seed: 0x5eed_0001, transport: () => httpTransport(daemon.ingestUrl) },
  { name: 'OTLP/HTTP json', encoding: 'json', seed: 0x5eed_0002, transport: () => httpTransport(daemon.ingestUrl) },
  { name: 'OTLP/gRPC protobuf', encoding: 'protobuf', seed: 0x5eed_0003, transport: () => grpcTransport(`127.0.0.1:${daemon.grpcPort}`) },
];

let daemon: TestDaemon;
beforeAll(async () => {
  // An empty host root: the daemon runs on the estimator, which is all ingest needs.
  daemon = await startTestDaemon({ hostRoot: mkdtempSync(join(tmpdir(), 'footprint-fuzz-')), attributionLag: '30s' });
});
afterAll(async () => daemon?.close());

describe.each(CAMPAIGNS)('$name fuzz', ({ encoding, seed, transport: makeTransport }) => {
  it(`answers ${CASES} mutated bodies with 200 or 400 only and keeps serving`, { timeout: 300_000 }, async () => {
    const transport = makeTransport();
    const result = await runCampaign({ transport, encoding, cases: CASES, seed });
    transport.close();
    console.log(JSON.stringify(result));
    expect(result.transportErrors).toBe(0);
    expect(
      Object.keys(result.statuses)
        .map(Number)
        .filter((status) => status !== 200 && status !== 400),
    ).toEqual([]);
    expect((result.statuses[200] ?? 0) + (result.statuses[400] ?? 0)).toBe(CASES);

    expect((await fetch(`${daemon.metricsUrl}/healthz`)).status).toBe(200);
    const good = await fetch(`${daemon.ingestUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: seedBodies('json')[0]!.toString('utf8'),
    });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({});
  });
});
