// `footprint report` on what the real daemon publishes: the daemon runs in-process on a fixture
// host (a RAPL package at a known rate, a constant-power amdgpu board (the "rail"), an NVML GPU, estimated memory,
// plus a RAPL core sub-zone and a wall-power hwmon sensor that the host's figure must not add again),
// two models send OTLP spans with tokens, a real Prometheus scrapes it every 0.5 s, and report.json
// must equal what Prometheus itself answers for the same window, and agree with the fixture's physics.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CCF_COEFFICIENTS } from '../../src/devices/estimator.ts';
import type { ReportData } from '../../src/report/report-data.ts';
import { runReport } from '../../src/report/run.ts';
import { fakeUuid, nvmlDouble } from '../support/nvml-double.ts';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { startPrometheus, type PromSample, type RunningPrometheus } from '../support/prom-server.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';

const skip = skipWithoutPromBinaries('prometheus');

const PACKAGE_WATTS = 40;
/** Nested devices: measured and published, but inside the package and around the whole host. */
const CORE_WATTS = 25;
const WALL_METER_WATTS = 500;
const RAIL_WATTS = 100;
const GPU_WATTS = 300;
const MEMORY_GIB = 8;
const MEMORY_WATTS = MEMORY_GIB * CCF_COEFFICIENTS.wattsPerGib;
const INTENSITY_G_PER_KWH = 400;
const PUE = 1.2;
const PRICE_PER_KWH = 0.3;
const JOULES_PER_KWH = 3_600_000;
const RAIL_ID = '0x6d2a1f0e9b3c4d5e';
const GPU_ID = fakeUuid(0);
const CORE_ID = 'rapl:package-0:core';
const WALL_METER_ID = 'hwmon:acpi_power_meter@ACPI000D:00:power1';
const MEMORY_ID = 'estimator:memory';
/** What hw_host_energy adds up: the package, both boards and the estimated memory. */
const HOST_WATTS = PACKAGE_WATTS + RAIL_WATTS + GPU_WATTS + MEMORY_WATTS;

/** Every PERIOD_MS one llama span holds the GPU for LLAMA_MS and one mistral span the rail for MISTRAL_MS. */
const PERIOD_MS = 500;
const LLAMA = { model: 'llama-3-8b', job: 'chat', device: GPU_ID, startMs: 0, endMs: 400, inputTokens: 100, outputTokens: 300 };
const MISTRAL = { model: 'mistral-7b', device: RAIL_ID, startMs: 100, endMs: 300, inputTokens: 20, outputTokens: 80 };
/** Seconds of device data before the first span, then of load; the reports cover whole seconds inside each.
 * The load starts 7 s before the previous window ends: tokens count when their energy settles (lag + a tick). */
const IDLE_S = 5;
const LOAD_S = 22;
const WINDOW_S = 15;
const STEP_S = 5;
const OUT = resolve('test/.tmp/report-live');

type Span = typeof LLAMA | typeof MISTRAL;

function spanBody(spans: Array<{ span: Span; baseMs: number; index: number }>) {
  const nanos = (ms: number) => `${ms}000000`;
  const text = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const int = (key: string, value: number) => ({ key, value: { intValue: String(value) } });
  return {
    resourceSpans: [
      {
        resource: { attributes: [text('service.name', 'vllm')] },
        scopeSpans: [
          {
            spans: spans.map(({ span, baseMs, index }) => ({
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: index.toString(16).padStart(16, '0'),
              name: 'generate',
              kind: 2,
              startTimeUnixNano: nanos(baseMs + span.startMs),
              endTimeUnixNano: nanos(baseMs + span.endMs),
              attributes: [
                text('ml.model', span.model),
                text('ml.phase', 'inference'),
                text('hw.id', span.device),
                ...('job' in span ? [text('ml.job', span.job)] : []),
                int('gen_ai.usage.input_tokens', span.inputTokens),
                int('gen_ai.usage.output_tokens', span.outputTokens),
              ],
            })),
          },
        ],
      },
    ],
  };
}

/** Relative 1e-9: the report sums per-group increases client-side, Prometheus sums them server-side. */
function expectSame(actual: number | null | undefined, expected: number | undefined): void {
  expect(actual).toBeTypeOf('number');
  expect(expected).toBeTypeOf('number');
  expect(Math.abs(actual! - expected!)).toBeLessThanOrEqual(Math.abs(expected!) * 1e-9 + 1e-12);
}

describe.skipIf(skip)('footprint report on a live daemon scraped by Prometheus', () => {
  let fixture: SysfsFixture;
  let daemon: TestDaemon;
  let prometheus: RunningPrometheus;
  let packageTimer: NodeJS.Timeout;
  let instance: string;
  let loadStartS: number;
  let toS: number;
  let data: ReportData;
  let files: string[];

  /** One instant query at `timeS`, as { 'label values joined by |': value }. */
  const direct = async (expr: string, timeS: number, labels: string[] = []): Promise<Record<string, number>> => {
    const { result } = await prometheus.query(expr, timeS);
    return Object.fromEntries((result as PromSample[]).map((s) => [labels.map((l) => s.metric[l] ?? '').join('|'), Number(s.value![1])]));
  };
  const single = async (expr: string, timeS = toS) => (await direct(expr, timeS))[''];
  const range = (seconds = WINDOW_S) => `${seconds}s`;

  beforeAll(async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 2);
    fixture.setMemTotal(MEMORY_GIB * 1024 * 1024);
    // An amdgpu board: constant power, and one of the host's devices, so it is priced and attributed.
    fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: RAIL_WATTS * 1_000_000, uniqueId: '0x6d2a1f0e9b3c4d5e' });
    // The package counter advances at PACKAGE_WATTS in wall-clock time, as hardware would.
    const packageStartMs = Date.now();
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 0 });
    fixture.addRaplZone('intel-rapl:0:0', { name: 'core', energyMicrojoules: 0 });
    packageTimer = setInterval(() => {
      fixture.setEnergy('intel-rapl:0', Math.round((Date.now() - packageStartMs) * PACKAGE_WATTS * 1000));
      fixture.setEnergy('intel-rapl:0:0', Math.round((Date.now() - packageStartMs) * CORE_WATTS * 1000));
    }, 50);
    fixture.addHwmon('hwmon1', { name: 'acpi_power_meter', device: 'ACPI000D:00', files: { power1_average: WALL_METER_WATTS * 1_000_000 } });
    // No energy counter on the board: the daemon integrates its constant power.
    const double = nvmlDouble({
      driverVersion: '550.54.15',
      gpus: [{ name: 'NVIDIA H100 80GB HBM3', energySupported: false, powerMilliwatts: GPU_WATTS * 1000 }],
    });
    daemon = await startTestDaemon({
      hostRoot: fixture.root,
      nvmlLibrary: double.libraryPath,
      attributionLag: '2s',
      intensity: INTENSITY_G_PER_KWH,
      pue: PUE,
      pricePerKwh: PRICE_PER_KWH,
      // The rail's board carries no embodied figure, so mistral's grams are operational only (checked below).
      embodied: [{ match: 'AMD GPU', manufacturingKgCo2e: 0, lifetimeYears: 4 }],
    });
    prometheus = await startPrometheus({ scrapeTargets: [`127.0.0.1:${daemon.metricsPort}`], scrapeIntervalS: 0.5 });
    instance = `127.0.0.1:${daemon.metricsPort}`;
    // The idle phase starts once Prometheus has the attributed idle series, so the idle report has them.
    await eventually(async () => ((await prometheus.query('ml_energy_joules_total')).result.length ? true : undefined), 20_000, 'ml series scraped');
    await sleep(IDLE_S * 1000);

    // Spans on a fixed grid, each sent right after it ends (well inside the 2 s attribution lag).
    loadStartS = Math.ceil(Date.now() / 1000);
    const loadEndMs = (loadStartS + LOAD_S) * 1000;
    for (let k = 0; loadStartS * 1000 + k * PERIOD_MS < loadEndMs; k++) {
      const baseMs = loadStartS * 1000 + k * PERIOD_MS;
      await sleep(baseMs + LLAMA.endMs + 20 - Date.now());
      const response = await fetch(`${daemon.ingestUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          spanBody([
            { span: LLAMA, baseMs, index: 2 * k + 1 },
            { span: MISTRAL, baseMs, index: 2 * k + 2 },
          ]),
        ),
      });
      expect(response.status).toBe(200);
    }
    toS = loadStartS + LOAD_S;
    // The window closes with the load; wait for the scrape that covers its end.
    await sleep(toS * 1000 + 1000 - Date.now());

    const result = await runReport({ prometheus: prometheus.url, from: String(toS - WINDOW_S), to: String(toS), step: `${STEP_S}s`, out: OUT });
    files = result.files;
    data = JSON.parse(await readFile(join(OUT, 'report.json'), 'utf8')) as ReportData;
  }, 60_000);

  afterAll(async () => {
    clearInterval(packageTimer);
    await prometheus?.stop();
    await daemon?.close();
    fixture?.remove();
  });

  it('the nested devices are measured but neither priced nor attributed', async () => {
    const ids = async (metric: string) => Object.keys(await direct(`group by (hw_id) (${metric})`, toS, ['hw_id'])).sort();
    expect(await ids('hw_energy_joules_total')).toEqual([GPU_ID, RAIL_ID, WALL_METER_ID, MEMORY_ID, 'rapl:package-0', CORE_ID].sort());
    const hostIds = [GPU_ID, RAIL_ID, MEMORY_ID, 'rapl:package-0'].sort();
    expect(await ids('ml_energy_joules_total')).toEqual(hostIds);
    expect(await ids('carbon_emissions_grams_total')).toEqual(hostIds);
  });

  it('totals are the window increase Prometheus reports, now and for the previous window', async () => {
    expect(data.missingMetrics).toEqual([]);
    for (const [change, timeS] of [
      [data.totals.energyKilowattHours.current, toS],
      [data.totals.energyKilowattHours.previous, toS - WINDOW_S],
    ] as const) {
      expectSame(change, (await single(`sum(increase(hw_host_energy_joules_total[${range()}]))`, timeS))! / JOULES_PER_KWH);
    }
    const grams = await direct(`sum by (carbon_scope) (increase(carbon_emissions_grams_total[${range()}]))`, toS, ['carbon_scope']);
    expectSame(data.totals.emissionsGrams.operational.current, grams.operational);
    expectSame(data.totals.emissionsGrams.embodied.current, grams.embodied);
    expectSame(data.totals.cost.USD?.current, await single(`sum(increase(energy_cost_total[${range()}]))`));
    expectSame(data.totals.tokens.current, await single(`sum(increase(ml_tokens_total[${range()}]))`));
    expectSame(data.totals.requests.current, await single(`sum(increase(ml_requests_total[${range()}]))`));
    // The previous window held the idle phase and the start of the load: fewer tokens, not none.
    expectSame(data.totals.tokens.previous, await single(`sum(increase(ml_tokens_total[${range()}]))`, toS - WINDOW_S));
    expect(data.totals.tokens.changeRatio).toBeGreaterThan(0);

    // Physics: operational grams and energy cost are the energy times PUE x intensity and PUE x tariff.
    const kwh = data.totals.energyKilowattHours.current;
    expectSame(data.totals.emissionsGrams.operational.current, kwh * PUE * INTENSITY_G_PER_KWH);
    expectSame(data.totals.cost.USD?.current, kwh * PUE * PRICE_PER_KWH);
    // The host's power, not the core zone or the wall meter on top (together they would exceed it by 120 %).
    expect((kwh * JOULES_PER_KWH) / WINDOW_S / HOST_WATTS).toBeCloseTo(1, 1);
    expect(data.projection.energyKilowattHours).toBe(kwh);
  });

  it('per-model gCO2e and cost per 1k tokens and per request are the ratios Prometheus computes', async () => {
    expect(data.perModel.map((row) => row.model)).toEqual([LLAMA.model, MISTRAL.model]);
    // Each growth on its own: a model can have tokens in a window before any of its energy is
    // attributed (the attribution lag), which the report counts as 0 g and a PromQL ratio drops.
    const growth = (expr: string, timeS = toS) => direct(`sum by (ml_model) (increase(${expr}[${range()}]))`, timeS, ['ml_model']);
    const attributedGrams = 'ml_emissions_grams_total{ml_phase!="idle"}';
    const [grams, previousGrams, tokens, previousTokens, requests, cost] = await Promise.all([
      growth(attributedGrams),
      growth(attributedGrams, toS - WINDOW_S),
      growth('ml_tokens_total'),
      growth('ml_tokens_total', toS - WINDOW_S),
      growth('ml_requests_total'),
      growth('ml_cost_total{ml_phase!="idle"}'),
    ]);
    for (const row of data.perModel) {
      expect(tokens[row.model], row.model).toBeGreaterThan(0);
      expectSame(row.gramsPer1kTokens, (1000 * (grams[row.model] ?? 0)) / tokens[row.model]!);
      expectSame(row.previousGramsPer1kTokens, (1000 * (previousGrams[row.model] ?? 0)) / previousTokens[row.model]!);
      expectSame(row.gramsPerRequest, (grams[row.model] ?? 0) / requests[row.model]!);
      expectSame(row.costPer1kTokens.USD, (1000 * cost[row.model]!) / tokens[row.model]!);
    }
    // Physics: mistral alone holds the 100 W rail (no embodied figure, see the daemon's config) for 0.2 s per 100 tokens.
    const mistral = data.perModel.find((row) => row.model === MISTRAL.model)!;
    const mistralJoulesPerSpan = RAIL_WATTS * ((MISTRAL.endMs - MISTRAL.startMs) / 1000);
    const mistralGramsPer1k = (1000 * (mistralJoulesPerSpan / JOULES_PER_KWH) * PUE * INTENSITY_G_PER_KWH) / (MISTRAL.inputTokens + MISTRAL.outputTokens);
    expect(mistral.gramsPer1kTokens! / mistralGramsPer1k).toBeCloseTo(1, 1);
  });

  it('idle share per node and per GPU, and the measured share, match Prometheus', async () => {
    const idleExpr = (by: string, matchers: string[] = []) =>
      `sum by (${by}) (increase(ml_energy_joules_total{${['ml_phase="idle"', ...matchers].join(',')}}[${range()}]))` +
      ` / sum by (${by}) (increase(ml_energy_joules_total{${matchers.join(',')}}[${range()}]))`;
    const nodes = await direct(idleExpr('instance'), toS, ['instance']);
    expect(data.idleShare.nodes.map((row) => row.node)).toEqual([instance]);
    expectSame(data.idleShare.nodes[0]!.share, nodes[instance]);
    const gpus = await direct(idleExpr('instance, hw_id', ['hw_type="gpu"']), toS, ['instance', 'hw_id']);
    // Both boards are GPUs: the NVML one and the amdgpu rail.
    expect(data.idleShare.gpus.map((row) => [row.node, row.hwId]).sort()).toEqual(
      [
        [instance, GPU_ID],
        [instance, RAIL_ID],
      ].sort(),
    );
    for (const row of data.idleShare.gpus) expectSame(row.share, gpus[`${instance}|${row.hwId}`]);
    // Physics: llama holds the GPU 400 ms of every 500 ms, mistral the rail 200 ms.
    const shareOf = (hwId: string) => data.idleShare.gpus.find((row) => row.hwId === hwId)!.share;
    expect(shareOf(GPU_ID)).toBeCloseTo(1 - (LLAMA.endMs - LLAMA.startMs) / PERIOD_MS, 1);
    expect(shareOf(RAIL_ID)).toBeCloseTo(1 - (MISTRAL.endMs - MISTRAL.startMs) / PERIOD_MS, 1);

    // Over the host's devices (those with ml_energy), each taking its method from its own hw_energy series.
    expectSame(
      data.measurement.measuredShare,
      await single(
        `sum(sum by (instance, hw_id) (increase(ml_energy_joules_total[${range()}]))` +
          ` and on (instance, hw_id) hw_energy_joules_total{measurement_method!="model"})` +
          ` / sum(increase(ml_energy_joules_total[${range()}]))`,
      ),
    );
    expect(data.measurement.methods.map((m) => [m.method, m.measured])).toEqual([
      ['power', true],
      ['counter', true],
      ['model', false],
    ]);
    expect(data.measurement.measuredShare).toBeCloseTo(1 - MEMORY_WATTS / HOST_WATTS, 3);
  });

  it('breakdowns name idle and unlabelled series, and chart points tile the window', async () => {
    const byModel = await direct(`sum by (ml_model) (increase(ml_emissions_grams_total[${range()}]))`, toS, ['ml_model']);
    expect(Object.fromEntries(data.breakdowns.model.map((row) => [row.key, row.emissionsGrams]))).toEqual({
      [LLAMA.model]: expect.any(Number),
      [MISTRAL.model]: expect.any(Number),
      '(idle)': expect.any(Number),
    });
    for (const row of data.breakdowns.model) expectSame(row.emissionsGrams, byModel[row.key === '(idle)' ? '' : row.key]);
    // ml_job and k8s_namespace_name are empty on the daemon's series unless set: idle or unlabelled, never "".
    expect(data.breakdowns.job.map((row) => row.key).sort()).toEqual(['(idle)', '(unlabelled)', LLAMA.job]);
    expect(data.breakdowns.namespace.map((row) => row.key).sort()).toEqual(['(idle)', '(unlabelled)']);
    expect(data.breakdowns.node.map((row) => row.key)).toEqual([instance]);

    expect(data.window.stepSeconds).toBe(STEP_S);
    const power = data.series.powerWattsByNode;
    expect(power.map((p) => p.time)).toEqual([10, 5, 0].map((back) => new Date((toS - back) * 1000).toISOString()));
    expectSame(power.at(-1)!.value, await single(`sum(rate(hw_host_energy_joules_total[${range(STEP_S)}]))`));
    // The device-type stack is the host's devices, so it adds up to the host's power (one attribution lag later).
    const byType = data.series.powerWattsByDeviceType.filter((p) => p.time === power.at(-1)!.time);
    expect(byType.map((p) => p.key).sort()).toEqual(['cpu', 'gpu', 'memory']);
    expect(byType.reduce((total, p) => total + p.value, 0) / HOST_WATTS).toBeCloseTo(1, 1);
    const llamaSteps = data.series.gramsPer1kTokensByModel.filter((p) => p.key === LLAMA.model);
    expect(llamaSteps).toHaveLength(WINDOW_S / STEP_S);
  });

  it('writes report.html and report.md with the same findings', async () => {
    expect(files.map((file) => file.slice(OUT.length + 1)).sort()).toEqual(['report.html', 'report.json', 'report.md']);
    const markdown = await readFile(join(OUT, 'report.md'), 'utf8');
    expect(markdown).toContain(`| ${LLAMA.model} |`);
    expect(markdown).toContain(`| ${instance} |`);
    const html = await readFile(join(OUT, 'report.html'), 'utf8');
    expect(html).toContain('data-chart="grams-per-1k-tokens"');
    expect(html).toContain('<svg');
  });

  it('a window before the first span reports everything idle and lists the request metrics as missing', async () => {
    const idle = await runReport({
      prometheus: prometheus.url,
      from: String(loadStartS - IDLE_S + 1),
      to: String(loadStartS),
      step: '1s',
      out: join(OUT, 'idle'),
    });
    expect(idle.data.missingMetrics).toEqual(['ml_tokens_total', 'ml_requests_total']);
    expect(idle.data.perModel).toEqual([]);
    expect(idle.data.totals.tokens.current).toBe(0);
    expect(idle.data.idleShare.nodes).toMatchObject([{ node: instance, share: 1 }]);
    expect(idle.data.breakdowns.model.map((row) => row.key)).toEqual(['(idle)']);
    expect(idle.files).toHaveLength(3);
  });
});
