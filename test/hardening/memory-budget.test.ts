// The daemon's memory budget (config memoryLimit, 256 MiB without a cgroup limit) against the real
// daemon run as a child process (`node bin/footprint.js start`), under three launchers: the chart's
// Node settings, one that also caps V8's old generation (the chart's flags in issue 19) and plain
// `npm start`, whose V8 would grow to a quarter of the machine. Under each:
// - 256 concurrent 65 KB gzip bombs, each inflating past the 4 MiB body limit (issue 19, F6; RSS
//   used to reach 1.1 GB): every one is answered 413, RSS stays within 256 MiB, an export after is 200;
// - 16 clients flooding 512-span batches for 10 s: answered 200 or 429, every scrape 200, /metrics p99
//   under 250 ms and RSS within 256 MiB (plain `npm start` used to reach 307 MiB).
// RSS is sampled every 50 ms from /proc; the figures are logged (docs/security.md).
import { Agent } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue } from '../support/daemon.ts';
import { CAPPED_V8_ENV, CHART_ENV, PLAIN_ENV, residentBytes, spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { sleep } from '../support/eventually.ts';
import { httpExport, serverSpanBatch } from '../support/otlp-export.ts';
import { percentile, timedScrape } from '../support/scrape-timing.ts';

const MiB = 2 ** 20;
const MAX_RSS_BYTES = 256 * MiB;
const BOMBS = 256;
const FLOOD_CLIENTS = 16;
const FLOOD_SECONDS = 10;

/** 64 MiB of zeros, gzipped to about 65 KB: 16 times the 4 MiB body limit once inflated. */
const BOMB = gzipSync(Buffer.alloc(64 * MiB));

/** A body of 512 spans (the OTel SDK BatchSpanProcessor's default maxExportBatchSize) that just ended. */
function floodBody(): Buffer {
  return serverSpanBatch({
    count: 512,
    name: 'POST /v1/chat/completions',
    endNs: BigInt(Date.now()) * 1_000_000n,
    durationNs: 200_000_000n,
    attributes: (index) => ({ 'gen_ai.request.model': `model-${index % 8}`, 'gen_ai.usage.input_tokens': 128, 'gen_ai.usage.output_tokens': 64 }),
  });
}

/** Samples the daemon's RSS every 50 ms until stopped; resolves with the samples. */
function sampleResident(daemon: DaemonProcess): { stop(): Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running && daemon.child.exitCode === null) {
      samples.push(residentBytes(daemon.pid));
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

describe.each([
  ["the chart's Node settings (no heap cap)", CHART_ENV],
  ["a launcher that caps V8's old generation at 64 MiB (issue 19's chart flags)", CAPPED_V8_ENV],
  ['plain npm start (no V8 flags)', PLAIN_ENV],
])('the memory budget under %s', (launcher, env) => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    daemon = await spawnDaemon({ env });
  }, 60_000);
  afterAll(() => daemon?.stop());

  it(`answers ${BOMBS} concurrent gzip bombs 413 within ${MAX_RSS_BYTES / MiB} MiB of RSS, and takes an export after`, { timeout: 60_000 }, async () => {
    const agent = new Agent({ keepAlive: false, maxSockets: BOMBS });
    const baselineBytes = residentBytes(daemon.pid);
    const sampler = sampleResident(daemon);
    const answers = await Promise.all(
      Array.from({ length: BOMBS }, () => httpExport(agent, daemon.ingestPort, BOMB, { 'Content-Encoding': 'gzip' }).then(({ status }) => status)),
    );
    await sleep(1000);
    const samples = await sampler.stop();
    const after = await httpExport(agent, daemon.ingestPort, floodBody());
    agent.destroy();
    const statuses = Object.fromEntries([...new Set(answers)].map((status) => [status, answers.filter((other) => other === status).length]));
    console.log(
      JSON.stringify({
        launcher,
        bombs: BOMBS,
        bombBytes: BOMB.length,
        statuses,
        baselineRssMiB: baselineBytes / MiB,
        maxRssMiB: Math.max(...samples) / MiB,
        rssAfterMiB: samples.at(-1)! / MiB,
      }),
    );
    expect(daemon.child.exitCode, daemon.output()).toBeNull();
    expect(statuses).toEqual({ 413: BOMBS });
    expect(Math.max(...samples)).toBeLessThanOrEqual(MAX_RSS_BYTES);
    expect(after.status).toBe(200);
  });

  it(`answers a ${FLOOD_CLIENTS}-client export flood within ${MAX_RSS_BYTES / MiB} MiB of RSS while every scrape answers 200, p99 < 250 ms`, {
    timeout: 60_000,
  }, async () => {
    const body = floodBody();
    const agent = new Agent({ keepAlive: true, maxSockets: FLOOD_CLIENTS });
    const statuses: Record<number, number> = {};
    const endMs = Date.now() + FLOOD_SECONDS * 1000;
    const client = async () => {
      while (Date.now() < endMs && daemon.child.exitCode === null) {
        const { status } = await httpExport(agent, daemon.ingestPort, body);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    };
    const scrapesMs: number[] = [];
    const scrapeStatuses = new Set<number>();
    const watcher = async () => {
      while (Date.now() < endMs && daemon.child.exitCode === null) {
        const { status, ms } = await timedScrape(daemon.metricsUrl);
        scrapeStatuses.add(status);
        scrapesMs.push(ms);
        await sleep(50);
      }
    };
    const sampler = sampleResident(daemon);
    await Promise.all([...Array.from({ length: FLOOD_CLIENTS }, client), watcher()]);
    const samples = await sampler.stop();
    agent.destroy();
    const after = await timedScrape(daemon.metricsUrl);
    const maxResident = Math.max(...samples);
    console.log(
      JSON.stringify({
        launcher,
        clients: FLOOD_CLIENTS,
        seconds: FLOOD_SECONDS,
        bodyBytes: body.length,
        statuses,
        scrapes: scrapesMs.length,
        scrapeP50Ms: percentile(scrapesMs, 50),
        scrapeP99Ms: percentile(scrapesMs, 99),
        maxRssMiB: maxResident / MiB,
        refusals: {
          memory: sampleValue(after.body, 'footprint_ingest_refusals_total', { reason: 'memory' }) ?? 0,
          queue: sampleValue(after.body, 'footprint_ingest_refusals_total', { reason: 'queue' }) ?? 0,
        },
      }),
    );
    expect(daemon.child.exitCode, daemon.output()).toBeNull();
    expect(Object.keys(statuses).filter((status) => status !== '200' && status !== '429')).toEqual([]);
    expect([...scrapeStatuses]).toEqual([200]);
    expect(percentile(scrapesMs, 99)).toBeLessThan(250);
    expect(maxResident).toBeLessThanOrEqual(MAX_RSS_BYTES);
    // Every 429 was refused by the memory guard or the queue, and counted once.
    const refused =
      (sampleValue(after.body, 'footprint_ingest_refusals_total', { reason: 'memory' }) ?? 0) +
      (sampleValue(after.body, 'footprint_ingest_refusals_total', { reason: 'queue' }) ?? 0);
    expect(refused).toBe(statuses[429] ?? 0);
    expect(sampleValue(after.body, 'footprint_memory_limit_bytes')).toBe(MAX_RSS_BYTES);
  });
});
