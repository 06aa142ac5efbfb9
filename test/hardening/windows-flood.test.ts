// A window flipped 50,000 times with astral-plane labels, against the built daemon run as a child
// process under the chart's Node settings (a 64 MiB old generation). Before the byte bound it died of
// "heap out of memory" (SIGABRT) after 48,012 such flips in 18.6 s. With the request rates lifted, only the byte
// bound on ended segments (and the heap guard) stand in the way: the flips past it are answered 429
// with a Retry-After, the daemon stays up with RSS <= 256 MiB, and the window keeps its owner. With
// the default rates, the window's updates beyond its burst are refused before any is held.
import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CAPPED_V8_ENV, PLAIN_ENV, residentBytes, spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { sleep } from '../support/eventually.ts';
import { windowRequest, type WindowAnswer } from '../support/window-request.ts';

const FLIPS = 50_000;
/** One client, one request at a time, as measured in the issue: parallel flips land in the same millisecond, which ends no segment. */
const CONNECTIONS = 1;
const MAX_RSS_BYTES = 256 * 2 ** 20;
/** 127 characters of the Mathematical Alphanumeric Symbols block: 4 bytes each in UTF-8, 2 UTF-16 units in V8. */
const ASTRAL = encodeURIComponent('𝔐'.repeat(127));

/** A workload with every label at its 128-character cap, distinct per flip (nothing to intern). */
function astralBaggage(flip: number): string {
  const value = `${flip % 10}${ASTRAL}`;
  const job = `${String(flip).padStart(6, '0').slice(0, 1)}${ASTRAL}`;
  return [`ml.model=${value}`, `ml.job=${job}`, `ml.phase=${flip}`, `k8s.namespace.name=${value}`, `k8s.pod.name=${value}`].join(',');
}

let daemon: DaemonProcess | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

async function flood(ingestUrl: string, pid: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const opened = await windowRequest({ ingestUrl, method: 'POST', path: '/v1/windows', agent, baggage: astralBaggage(0), body: { id: 'flipped' } });
  expect(opened.status).toBe(201);
  const statuses: Record<number, number> = {};
  const refusals = new Set<string>();
  let maxRssBytes = residentBytes(pid);
  let next = 1;
  const startMs = Date.now();
  const connection = async () => {
    while (next <= FLIPS) {
      const flip = next++;
      const answer: WindowAnswer = await windowRequest({ ingestUrl, method: 'PUT', path: '/v1/windows/flipped', agent, baggage: astralBaggage(flip) });
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status === 429) {
        expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
        refusals.add(String(answer.json.message).replace(/\d+/g, 'N'));
      }
      if (flip % 500 === 0) maxRssBytes = Math.max(maxRssBytes, residentBytes(pid));
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, connection));
  maxRssBytes = Math.max(maxRssBytes, residentBytes(pid));
  const seconds = (Date.now() - startMs) / 1000;
  // The owner's window survived: a plain heartbeat, retried as its Retry-After says (rate or heap guard), answers 200.
  let heartbeat = await windowRequest({ ingestUrl, method: 'PUT', path: '/v1/windows/flipped', agent });
  for (let retry = 0; heartbeat.status === 429 && retry < 10; retry++) {
    await sleep(1000 * Number(heartbeat.retryAfter));
    heartbeat = await windowRequest({ ingestUrl, method: 'PUT', path: '/v1/windows/flipped', agent });
  }
  agent.destroy();
  return { statuses, refusals: [...refusals], maxRssBytes, seconds, heartbeat };
}

describe('a window flipped 50,000 times with astral-plane labels', () => {
  it.each([
    ['the chart flags', CAPPED_V8_ENV],
    ['plain npm start', PLAIN_ENV],
  ])(
    'with the rates lifted, under %s, the segment byte bound refuses the flips past it; the daemon stays up under 256 MiB',
    { timeout: 240_000 },
    async (_launcher, env) => {
      daemon = await spawnDaemon({
        env,
        flags: ['--window-client-rate-per-second', '1000000', '--window-rate-per-second', '1000000'],
      });
      const result = await flood(daemon.ingestUrl, daemon.pid);
      console.log(
        JSON.stringify({
          rates: 'lifted',
          launcher: _launcher,
          ...result,
          maxRssMiB: Math.round(result.maxRssBytes / 2 ** 20),
          heartbeat: result.heartbeat.status,
        }),
      );

      expect(daemon.child.exitCode, daemon.output()).toBeNull();
      expect(Object.keys(result.statuses).sort()).toEqual(['200', '429']);
      expect(result.statuses[200]! + result.statuses[429]!).toBe(FLIPS);
      // Refused by the byte bound, or by the memory guard when the heap or RSS filled first.
      for (const refusal of result.refusals) expect(refusal).toMatch(/windowSegmentMaxBytes|heap old generation|resident memory/);
      expect(result.refusals.some((refusal) => refusal.includes('windowSegmentMaxBytes'))).toBe(true);
      expect(result.maxRssBytes).toBeLessThanOrEqual(MAX_RSS_BYTES);
      expect(result.heartbeat.status).toBe(200);
      expect(result.heartbeat.json.workload).toMatchObject({ phase: expect.stringMatching(/^\d+$/) });
      expect((await fetch(`${daemon.metricsUrl}/healthz`)).status).toBe(200);
    },
  );

  it('with the default rates, the window takes its burst and 5 updates a second; the rest are 429', { timeout: 240_000 }, async () => {
    daemon = await spawnDaemon({ env: CAPPED_V8_ENV });
    const result = await flood(daemon.ingestUrl, daemon.pid);
    console.log(JSON.stringify({ rates: 'default', ...result, maxRssMiB: Math.round(result.maxRssBytes / 2 ** 20), heartbeat: result.heartbeat.status }));

    expect(daemon.child.exitCode, daemon.output()).toBeNull();
    // windowRatePerSecond 5 with a 2 s burst of 10, over the flood's seconds (plus the one open's token).
    expect(result.statuses[200]).toBeLessThanOrEqual(10 + Math.ceil(5 * result.seconds));
    expect(result.statuses[200]! + result.statuses[429]!).toBe(FLIPS);
    expect(result.refusals.every((refusal) => /windowRatePerSecond|windowClientRatePerSecond/.test(refusal))).toBe(true);
    expect(result.maxRssBytes).toBeLessThanOrEqual(MAX_RSS_BYTES);
    expect(result.heartbeat.status).toBe(200);
  });
});
