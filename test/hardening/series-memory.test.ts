// Series memory against the real daemon run as a child process (`node bin/footprint.js start`), under
// the chart's Node settings and under plain node: a few requests of spans, each naming a new workload
// with the longest label values ingest keeps, used to take the daemon down (astral-plane values: V8
// heap out of memory; 48-character values: killed by the first scrape under the chart's settings;
// plain node: RSS 64 -> 588 MiB and a 46 MB /metrics taking 1.0-1.7 s). Label values are capped in
// UTF-8 bytes and the workload series share a byte budget, past which a new series folds into its
// device's overflow series: the daemon stays up within 256 MiB, every scrape answers within 1 s with
// under 2 MB, each folded set is counted once, and the device's joules are all still there.
import { Agent } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { CAPPED_V8_ENV, residentBytes, spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';
import { sampleValue } from '../support/daemon.ts';
import { sleep } from '../support/eventually.ts';
import { httpExport, serverSpanBatch } from '../support/otlp-export.ts';
import { timedScrape } from '../support/scrape-timing.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const DEVICE_ID = '0x5b1e7c2d4a6f8091';
const POWER_WATTS = 100;
const MAX_RSS_BYTES = 256 * 2 ** 20;
const MAX_EXPOSITION_BYTES = 2_000_000;
const MAX_SCRAPE_MS = 1000;
const SPANS_PER_REQUEST = 500;
const SCRAPES = 8;
const FIELDS = ['ml.model', 'ml.job', 'ml.phase', 'k8s.namespace.name', 'k8s.pod.name'];
const GRIN = '\u{1F600}';

/** Each span a new workload: every workload field a distinct value of 128 astral-plane characters (512 bytes), or of 48 ASCII characters. */
const ATTACKS = [
  { name: '2,000 spans with 128-character astral-plane values', spans: 2000, value: (index: number, field: string) => `${index}${field}`.padEnd(128, GRIN) },
  { name: '5,000 spans with 48-character values', spans: 5000, value: (index: number, field: string) => `${field}-${index}-`.padEnd(48, 'x') },
];
const NODE_SETTINGS = [
  { name: "the chart's Node settings", env: CAPPED_V8_ENV },
  { name: 'plain node', env: {} },
];

/** The sum of every sample of `name` whose labels include `labels` (sampleValue returns the first). */
function sumSamples(exposition: string, name: string, labels: Record<string, string>): number {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const countLines = (exposition: string, prefix: string) => exposition.split('\n').filter((line) => line.startsWith(prefix)).length;

let fixture: SysfsFixture | undefined;
let daemon: DaemonProcess | undefined;
afterEach(async () => {
  await daemon?.stop();
  fixture?.remove();
});

describe.each(NODE_SETTINGS)('workload series under $name', ({ name: settings, env }) => {
  it.each(ATTACKS)('$name: the daemon stays up within 256 MiB, /metrics under 2 MB within 1 s, joules conserved', { timeout: 90_000 }, async (attack) => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 1);
    fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: DEVICE_ID });
    // A 2 s lag instead of 15 s: the series appear when the spans' intervals are split.
    daemon = await spawnDaemon({ hostRoot: fixture.root, env, flags: ['--interval', '1s', '--attribution-lag', '2s'] });
    const { pid, metricsUrl, ingestPort } = daemon;
    const running = () => daemon!.child.exitCode === null && daemon!.child.signalCode === null;
    let peakResident = residentBytes(pid);
    const baselineResident = peakResident;
    const sampler = setInterval(() => {
      try {
        peakResident = Math.max(peakResident, residentBytes(pid));
      } catch {
        // A daemon that died has no VmRSS until it is reaped; the assertions below report it dead.
      }
    }, 50);

    // Spans end 100 ms before they are sent: past the first sample, so every workload gets energy.
    await sleep(1500);
    const agent = new Agent({ keepAlive: true });
    let sentBytes = 0;
    try {
      for (let first = 0; first < attack.spans; first += SPANS_PER_REQUEST) {
        const body = serverSpanBatch({
          count: SPANS_PER_REQUEST,
          firstId: first + 1,
          name: 'llm_request',
          endNs: BigInt(Date.now() - 100) * 1_000_000n,
          durationNs: 500_000_000n,
          attributes: (index) => ({ ...Object.fromEntries(FIELDS.map((field) => [field, attack.value(first + index, field)])), 'hw.id': DEVICE_ID }),
        });
        sentBytes += body.length;
        expect((await httpExport(agent, ingestPort, body)).status).toBe(200);
      }
      // Every span settled: each workload's request counted, in its own series or folded.
      const requests = (text: string) => sumSamples(text, 'ml_requests_total', {});
      const scrapes: Array<{ status: number; ms: number; bytes: number }> = [];
      let exposition = '';
      for (let tries = 0; tries < 30 && running(); tries++) {
        const scrape = await timedScrape(metricsUrl);
        scrapes.push({ status: scrape.status, ms: Math.round(scrape.ms), bytes: Buffer.byteLength(scrape.body) });
        exposition = scrape.body;
        if (requests(exposition) === attack.spans && scrapes.length >= SCRAPES) break;
        await sleep(500);
      }
      console.log(
        JSON.stringify({
          settings,
          attack: attack.name,
          sentBytes,
          residentMiB: { baseline: baselineResident >> 20, peak: peakResident >> 20 },
          scrapes,
        }),
      );
      expect(running(), daemon.output()).toBe(true);
      expect(requests(exposition)).toBe(attack.spans);
      expect(scrapes.filter((scrape) => scrape.status !== 200 || scrape.ms >= MAX_SCRAPE_MS || scrape.bytes >= MAX_EXPOSITION_BYTES)).toEqual([]);
      expect(peakResident).toBeLessThanOrEqual(MAX_RSS_BYTES);

      // Each folded workload counted once in footprint_series_overflow_total, though its energy came in over several ticks.
      const liveEnergy = countLines(exposition, 'ml_energy_joules_total{ml_model="') - countLines(exposition, 'ml_energy_joules_total{ml_model="",');
      const folded = sampleValue(exposition, 'footprint_series_overflow_total', { metric: 'ml.energy' })!;
      expect(liveEnergy).toBeGreaterThan(0);
      expect(folded + liveEnergy).toBe(attack.spans);
      // The overflow series keeps the device: attributed (live, idle and folded) + unsettled == measured.
      expect(sampleValue(exposition, 'ml_energy_joules_total', { otel_metric_overflow: 'true', hw_id: DEVICE_ID })).toBeGreaterThan(0);
      const attributed = sumSamples(exposition, 'ml_energy_joules_total', { hw_id: DEVICE_ID });
      const unsettled = sampleValue(exposition, 'footprint_attribution_unsettled_energy_joules', { hw_id: DEVICE_ID })!;
      const measured = sampleValue(exposition, 'hw_energy_joules_total', { hw_id: DEVICE_ID })!;
      expect(measured).toBeGreaterThan(0);
      expect(Math.abs(attributed + unsettled - measured)).toBeLessThan(1e-9 * measured);
    } finally {
      clearInterval(sampler);
      agent.destroy();
    }
  });
});
