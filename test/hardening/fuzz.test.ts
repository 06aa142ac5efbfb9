// Seeded fuzzing of POST /v1/traces on the real daemon: 20,000 mutated protobuf and 20,000 mutated
// JSON bodies (fixed seeds), no 5xx, no dropped connection, and the daemon still answers and still
// accepts a good export afterwards. The long campaign is `npm run fuzz` (docs/benchmarks.md).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { httpTransport, runCampaign, seedBodies, type FuzzEncoding } from '../support/otlp-fuzz.ts';

const CASES = 20_000;
const SEEDS: Record<FuzzEncoding, number> = { protobuf: 0x5eed_0001, json: 0x5eed_0002 };

let daemon: TestDaemon;
beforeAll(async () => {
  // An empty host root: the daemon runs on the estimator, which is all ingest needs.
  daemon = await startTestDaemon({ hostRoot: mkdtempSync(join(tmpdir(), 'footprint-fuzz-')), attributionLag: '30s' });
});
afterAll(async () => daemon?.close());

describe.each(['protobuf', 'json'] as const)('OTLP/HTTP %s fuzz', (encoding) => {
  it(`answers ${CASES} mutated bodies with 200 or 400 only and keeps serving`, { timeout: 300_000 }, async () => {
    const transport = httpTransport(daemon.ingestUrl);
    const result = await runCampaign({ transport, encoding, cases: CASES, seed: SEEDS[encoding] });
    transport.close();
    console.log(JSON.stringify(result));
    expect(result.transportErrors).toBe(0);
    expect(Object.keys(result.statuses).map(Number).filter((status) => status !== 200 && status !== 400)).toEqual([]);
    expect((result.statuses[200] ?? 0) + (result.statuses[400] ?? 0)).toBe(CASES);

    expect((await fetch(`${daemon.metricsUrl}/healthz`)).status).toBe(200);
    const good = await fetch(`${daemon.ingestUrl}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: seedBodies('json')[0]!.toString('utf8') });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({});
  });
});
