// End to end: the real daemon (bin/footprint.js) reads a RAPL fixture drawing a steady 50 W (30 W of
// it in a nested core sub-zone that no total may add again), spans
// with tokens arrive over OTLP/HTTP JSON, a real Prometheus with footprint's rule files scrapes the
// daemon and records the per-minute series the fleet and model panels read, and every dashboard
// panel query runs against it. Headline panels must return data, and the ones with a fixture truth
// (power, energy per token, gCO2e per 1k tokens) must match it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { startPrometheus, type PromSample, type RunningPrometheus } from '../support/prom-server.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';
import { dashboardExprs, ruleFiles, substitute } from './exprs.ts';
import { sleep } from '../support/eventually.ts';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.ts';

const POWER_W = 50;
const CORE_W = 30;
const TOKENS_PER_SPAN = { input: 100, output: 400 };
const SPAN_S = 1;
const INTENSITY_G_PER_KWH = 400;
const MODEL = 'live-model';
const RUN_S = 20;
const TOKENS_PER_S = (TOKENS_PER_SPAN.input + TOKENS_PER_SPAN.output) / SPAN_S;

const nanos = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();

function spanBody(startMs: number, endMs: number) {
  const attr = (key: string, value: string | number) => ({ key, value: typeof value === 'string' ? { stringValue: value } : { intValue: String(value) } });
  return {
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', 'live-test')] },
        scopeSpans: [
          {
            scope: { name: 'live-test' },
            spans: [
              {
                traceId: randomBytes(16).toString('hex'),
                spanId: randomBytes(8).toString('hex'),
                name: 'generate',
                kind: 2,
                startTimeUnixNano: nanos(startMs),
                endTimeUnixNano: nanos(endMs),
                attributes: [
                  attr('ml.model', MODEL),
                  attr('gen_ai.usage.input_tokens', TOKENS_PER_SPAN.input),
                  attr('gen_ai.usage.output_tokens', TOKENS_PER_SPAN.output),
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

const HEADLINE = [
  'Power now',
  'Energy',
  'CO2e by scope',
  'gCO2e per 1k tokens',
  'Requests per second',
  'Energy per token',
  'Request latency p50 / p95',
  'Device power',
  'Host power',
  'Attributed vs idle power',
  'Grid intensity forecast, next 24 hours',
  'Best start in the next 24 hours',
  'Best window intensity',
];

describe.skipIf(skipWithoutPromBinaries('prometheus'))('dashboards against a running daemon', () => {
  let fixture: SysfsFixture;
  let daemon: DaemonProcess;
  let prometheus: RunningPrometheus;
  let energyTimer: NodeJS.Timeout;
  /** Dashboard ranges reach back past the daemon's first sample, so each covers the whole run. */
  let rangeS: number;

  beforeAll(async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 4);
    // A fixed memory size (64 GiB, about 25 W estimated), so the measured share tells 50 W from 50 W + core.
    fixture.setMemTotal(64 * 1024 * 1024);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 0 });
    fixture.addRaplZone('intel-rapl:0:0', { name: 'core', energyMicrojoules: 0 });
    const t0 = Date.now();
    // A steady draw: the counters advance by their watts x elapsed time, written every 20 ms. The daemon
    // samples at its default 2 s, so a write landing late (a busy CI machine) moves its power by little.
    energyTimer = setInterval(() => {
      fixture.setEnergy('intel-rapl:0', Math.round(((Date.now() - t0) / 1000) * POWER_W * 1e6));
      fixture.setEnergy('intel-rapl:0:0', Math.round(((Date.now() - t0) / 1000) * CORE_W * 1e6));
    }, 20);

    daemon = await spawnDaemon({
      hostRoot: fixture.root,
      logLevel: 'warn',
      flags: [
        '--interval',
        '2s',
        '--attribution-lag',
        '1s',
        // Idle is published with the interval, as the dashboards' idle panels expect within the run.
        '--attribution-horizon',
        '1s',
        '--intensity',
        String(INTENSITY_G_PER_KWH),
      ],
    });
    const promStartMs = Date.now();
    prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${daemon.metricsPort}`], scrapeIntervalS: 1, ruleFiles: ruleFiles() });

    // Back-to-back spans cover all the time, so all the energy of the window belongs to the model.
    for (let i = 0, start = Date.now(); i < RUN_S / SPAN_S; i++) {
      await sleep(SPAN_S * 1000 - ((Date.now() - start) % (SPAN_S * 1000)));
      const end = Date.now();
      const response = await fetch(`${daemon.ingestUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spanBody(end - SPAN_S * 1000, end)),
      });
      expect(response.ok, await response.text()).toBe(true);
    }
    await sleep(5000); // one interval, the attribution lag and a scrape
    // The panels read per-minute recordings: wait for the dashboards' group to record the minute that ends after the run.
    const settledMs = Date.now();
    const recorded = async () =>
      (await prometheus.ruleGroups()).some((g) => g.name === 'footprint-dashboards' && Date.parse(g.lastEvaluation) > settledMs + 1000);
    while (!(await recorded())) await sleep(1000);
    rangeS = Math.ceil((Date.now() - promStartMs) / 1000) + 60;
  }, 240_000);

  afterAll(async () => {
    clearInterval(energyTimer);
    await prometheus?.stop();
    await daemon?.stop();
    fixture?.remove();
  });

  // Windows longer than the whole run: tokens count on arrival but energy only after the interval and the
  // attribution lag, so a window that cuts through the run would pair them a few seconds apart.
  const values = () => ({
    variables: { cluster: '.*', node: '.*', namespace: '.*', model: MODEL, job: '.*' },
    rateInterval: `${rangeS}s`,
    range: `${rangeS}s`,
  });
  const run = async (expr: string) => (await prometheus.query(substitute(expr, values()))).result as PromSample[];
  const panelValue = async (title: string) => {
    const target = dashboardExprs().find((e) => e.panelTitle === title)!;
    const [sample] = await run(target.expr);
    return Number(sample?.value?.[1]);
  };

  it('every panel and variable query answers without error', async () => {
    for (const { where, expr } of dashboardExprs()) await expect(run(expr), where).resolves.toBeDefined();
  });

  it.each(HEADLINE)('headline panel "%s" has data', async (title) => {
    const targets = dashboardExprs().filter((e) => e.panelTitle === title);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      const result = await run(target.expr);
      expect(result.length, `${target.where}\n${daemon.output()}`).toBeGreaterThan(0);
      expect(
        result.every((s) => Number.isFinite(Number(s.value?.[1]))),
        target.where,
      ).toBe(true);
    }
  });

  /** The fixture has no DRAM zone, so the daemon adds its estimated memory device to the host. */
  const estimatedMemoryW = async () => Number((await run('sum(hw_power_watts{hw_type="memory", measurement_method="model"})'))[0]?.value?.[1] ?? 0);
  const within = (actual: number, truth: number, tolerance: number) => {
    expect(actual).toBeGreaterThan(truth * (1 - tolerance));
    expect(actual).toBeLessThan(truth * (1 + tolerance));
  };

  it('device and host power match the fixture draw', async () => {
    const [packageW] = (await run(dashboardExprs().find((e) => e.panelTitle === 'Device power')!.expr)).filter((s) => s.metric.hw_id === 'rapl:package-0');
    within(Number(packageW?.value?.[1]), POWER_W, 0.15);
    within(await panelValue('Power now'), POWER_W + (await estimatedMemoryW()), 0.15);
  });

  it('energy panels count the core sub-zone once: inside its package', async () => {
    const [coreW] = (await run(dashboardExprs().find((e) => e.panelTitle === 'Device power')!.expr)).filter((s) => s.metric.hw_id === 'rapl:package-0:core');
    within(Number(coreW?.value?.[1]), CORE_W, 0.15);
    const hostDevices = await run(dashboardExprs().find((e) => e.panelTitle === 'Host device energy over the range')!.expr);
    expect(hostDevices.map((s) => s.metric.hw_id).sort()).toEqual(['estimator:memory', 'rapl:package-0']);
    // The bars add up to the host's energy (the attribution lag shifts them by a second of a steady draw).
    within(
      hostDevices.reduce((total, s) => total + Number(s.value?.[1]), 0),
      await panelValue('Energy'),
      0.15,
    );
    within(await panelValue('Measured share of energy'), POWER_W / (POWER_W + (await estimatedMemoryW())), 0.05);
  });

  it('the next-24-hours panels show the static intensity held flat: 24 offsets at 400 g/kWh, best start now', async () => {
    const forecast = await run(dashboardExprs().find((e) => e.panelTitle === 'Grid intensity forecast, next 24 hours')!.expr);
    expect(forecast.map((s) => s.metric.forecast_offset).sort((a, b) => Number.parseInt(a!, 10) - Number.parseInt(b!, 10))).toEqual(
      Array.from({ length: 24 }, (_, i) => `${i + 1}h`),
    );
    expect(new Set(forecast.map((s) => Number(s.value?.[1])))).toEqual(new Set([INTENSITY_G_PER_KWH]));
    const bestStarts = await run(dashboardExprs().find((e) => e.panelTitle === 'Best start in the next 24 hours')!.expr);
    expect(bestStarts.map((s) => [s.metric.forecast_duration, Number(s.value?.[1])]).sort()).toEqual([
      ['1h', 0],
      ['8h', 0],
    ]);
    expect(await panelValue('Best window intensity')).toBe(INTENSITY_G_PER_KWH);
  });

  it('energy per token and gCO2e per 1k tokens match the fixture truth', async () => {
    // Spans cover all the time, so every joule of the window is the model's.
    const joulesPerToken = (POWER_W + (await estimatedMemoryW())) / TOKENS_PER_S;
    within(await panelValue('Energy per token'), joulesPerToken, 0.3);
    // Operational CO2e only: embodied can only add to it.
    const operationalGramsPer1k = ((1000 * joulesPerToken) / 3.6e6) * INTENSITY_G_PER_KWH;
    expect(await panelValue('gCO2e per 1k tokens')).toBeGreaterThan(operationalGramsPer1k * 0.7);
  });
});
