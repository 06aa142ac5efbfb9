// runReport against a real Prometheus loaded with a known month; report.json must match the truth
// computed straight from the generated counters, and report.html must render in real Chromium.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NoDataError } from '../../src/report/collect.ts';
import type { ReportData } from '../../src/report/report-data.ts';
import { runReport, type ReportResult } from '../../src/report/run.ts';
import { parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { modelPowerQuery, runPlan } from '../../src/plan-command.ts';
import { HISTORY_START_SECONDS, increaseBetween, isHostDevice, sampleIndexAt, type GeneratedSeries, type Labels } from '../support/report-history.ts';
import { CHROMIUM, haveBinaries, PROMETHEUS, PROMTOOL, startLoadedPrometheus, type LoadedPrometheus } from '../support/report-prometheus.ts';

const DAY = 86_400;
const FROM = HISTORY_START_SECONDS + 14 * DAY;
const TO = HISTORY_START_SECONDS + 28 * DAY;
const JOULES_PER_KWH = 3_600_000;
const TMP = resolve('test/.tmp/report');
const OUT = join(TMP, 'out');

/** Float sums in a different order differ in the last bits only. */
function expectClose(actual: number | null | undefined, expected: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(Math.abs(expected) * 1e-9 + 1e-9);
}

describe.skipIf(!haveBinaries(PROMTOOL, PROMETHEUS))('footprint report against a real Prometheus', () => {
  let prometheus: LoadedPrometheus;
  let result: ReportResult;
  let data: ReportData;
  const progressLines: string[] = [];
  let series: GeneratedSeries[];

  const growth = (name: string, match: (labels: Labels) => boolean, fromSeconds = FROM, toSeconds = TO) =>
    increaseBetween(series, name, match, sampleIndexAt(fromSeconds), sampleIndexAt(toSeconds));
  const any = () => true;
  /** The truth for every energy total: the host's devices only; the nested sub-zone is in its package already. */
  const hostJoules = (match: (labels: Labels) => boolean = any, fromSeconds = FROM, toSeconds = TO) =>
    growth('hw_energy_joules_total', (l) => isHostDevice(l) && match(l), fromSeconds, toSeconds);

  beforeAll(async () => {
    prometheus = await startLoadedPrometheus(join(TMP, 'prometheus'));
    series = prometheus.series;
    result = await runReport({
      prometheus: prometheus.url,
      from: new Date(FROM * 1000).toISOString(),
      to: String(TO),
      out: OUT,
      top: 3,
      progress: (done, total, label) => progressLines.push(`${done}/${total} ${label}`),
    });
    data = JSON.parse(await readFile(join(OUT, 'report.json'), 'utf8')) as ReportData;
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('writes the three files and reports progress for every query', async () => {
    expect(result.files.map((file) => file.slice(OUT.length + 1)).sort()).toEqual(['report.html', 'report.json', 'report.md']);
    expect(progressLines.length).toBeGreaterThan(10);
    expect(progressLines.at(-1)).toMatch(/^(\d+)\/\1 /);
    expect(data.missingMetrics).toEqual([]);
  });

  it('the history has a nested sub-zone, and every energy total leaves it out', () => {
    const subZone = (l: Labels) => !isHostDevice(l);
    expect(series.filter((one) => one.name === 'hw_energy_joules_total' && subZone(one.labels)).map((one) => one.labels.hw_id)).toEqual([
      'rapl:package-0:core',
    ]);
    expect(growth('hw_energy_joules_total', subZone)).toBeGreaterThan(0);
    expect(series.some((one) => one.name.startsWith('ml_') && subZone(one.labels))).toBe(false);
    // The generated host counters are their devices' sum; summing every hw_energy series would be larger.
    expectClose(growth('hw_host_energy_joules_total', any), hostJoules());
    expectClose(data.totals.energyKilowattHours.current, hostJoules() / JOULES_PER_KWH);
    expect(data.totals.energyKilowattHours.current).toBeLessThan(growth('hw_energy_joules_total', any) / JOULES_PER_KWH);
  });

  it('totals and their previous window match the generated counters', () => {
    expectClose(data.totals.energyKilowattHours.current, hostJoules() / JOULES_PER_KWH);
    expectClose(data.totals.energyKilowattHours.previous, hostJoules(any, HISTORY_START_SECONDS, FROM) / JOULES_PER_KWH);
    for (const scope of ['operational', 'embodied'] as const) {
      expectClose(
        data.totals.emissionsGrams[scope].current,
        growth('carbon_emissions_grams_total', (l) => l.carbon_scope === scope),
      );
      expectClose(
        data.totals.emissionsGrams[scope].previous,
        growth('carbon_emissions_grams_total', (l) => l.carbon_scope === scope, HISTORY_START_SECONDS, FROM),
      );
    }
    expectClose(data.totals.cost.EUR!.current, growth('energy_cost_total', any));
    expect(data.totals.tokens.current).toBe(growth('ml_tokens_total', any));
    expect(data.totals.requests.current).toBe(growth('ml_requests_total', any));
    const energy = data.totals.energyKilowattHours;
    expectClose(energy.changeRatio, (energy.current - energy.previous) / energy.previous);
    // The DE grid got cleaner on day 21, so operational CO2e fell while energy did not.
    expect(data.totals.emissionsGrams.operational.changeRatio!).toBeLessThan(-0.1);
  });

  it('gCO2e and cost per 1k tokens and per request per model match the truth', () => {
    const models = ['bge-small', 'llama-3-8b', 'mistral-7b'];
    expect(data.perModel.map((m) => m.model)).toEqual(models);
    for (const model of models) {
      const ofModel = (l: Labels) => l.ml_model === model && l.ml_phase !== 'idle';
      const grams = growth('ml_emissions_grams_total', ofModel);
      const tokens = growth('ml_tokens_total', (l) => l.ml_model === model);
      const requests = growth('ml_requests_total', (l) => l.ml_model === model);
      const row = data.perModel.find((m) => m.model === model)!;
      expectClose(row.gramsPer1kTokens, (grams / tokens) * 1000);
      expectClose(row.gramsPerRequest, grams / requests);
      expectClose(row.costPer1kTokens.EUR, (growth('ml_cost_total', ofModel) / tokens) * 1000);
      const previousGrams = growth('ml_emissions_grams_total', ofModel, HISTORY_START_SECONDS, FROM);
      const previousTokens = growth('ml_tokens_total', (l) => l.ml_model === model, HISTORY_START_SECONDS, FROM);
      expectClose(row.previousGramsPer1kTokens, (previousGrams / previousTokens) * 1000);
    }
  });

  it('idle share per node and per GPU is idle ml energy over all ml energy', () => {
    for (const node of ['gpu-node-a:9464', 'gpu-node-b:9464', 'cpu-node-c:9464']) {
      const onNode = (l: Labels) => l.instance === node;
      const expected = growth('ml_energy_joules_total', (l) => onNode(l) && l.ml_phase === 'idle') / growth('ml_energy_joules_total', onNode);
      expectClose(data.idleShare.nodes.find((row) => row.node === node)?.share, expected);
    }
    expect(data.idleShare.gpus).toHaveLength(4);
    const onGpu = (l: Labels) => l.instance === 'gpu-node-b:9464' && l.hw_id === 'GPU-b1';
    const trainingGpu = data.idleShare.gpus.find((row) => row.node === 'gpu-node-b:9464' && row.hwId === 'GPU-b1');
    expectClose(trainingGpu?.share, growth('ml_energy_joules_total', (l) => onGpu(l) && l.ml_phase === 'idle') / growth('ml_energy_joules_total', onGpu));
  });

  it('measured share, breakdowns and projection match the truth', () => {
    const measured = (l: Labels) => l.measurement_method !== 'model';
    expectClose(data.measurement.measuredShare, hostJoules(measured) / hostJoules());
    for (const method of ['counter', 'power', 'model']) {
      expectClose(
        data.measurement.methods.find((m) => m.method === method)?.kilowattHours,
        hostJoules((l) => l.measurement_method === method) / JOULES_PER_KWH,
      );
    }
    expect(data.measurement.methods.find((m) => m.method === 'model')?.measured).toBe(false);

    // top 3 of 5 keys (4 models + idle) plus one "(rest)" row; shares add up to all ml emissions.
    expect(data.breakdowns.model).toHaveLength(4);
    expect(data.breakdowns.model.at(-1)).toMatchObject({ key: '(rest)', restCount: 2 });
    expectClose(
      data.breakdowns.model.reduce((sum, row) => sum + row.emissionsGrams, 0),
      growth('ml_emissions_grams_total', any),
    );
    const llama = data.breakdowns.model.find((row) => row.key === 'llama-3-8b')!;
    expectClose(
      llama.emissionsGrams,
      growth('ml_emissions_grams_total', (l) => l.ml_model === 'llama-3-8b'),
    );
    expect(data.breakdowns.namespace.map((row) => row.key)).toEqual(['(idle)', 'serving', 'research', '(rest)']);

    const basisFrom = TO - 7 * DAY;
    expect(data.projection.basisSeconds).toBe(7 * DAY);
    expectClose(data.projection.energyKilowattHours, (hostJoules(any, basisFrom) / JOULES_PER_KWH) * 2);
    expectClose(data.projection.emissionsGrams.total, growth('carbon_emissions_grams_total', any, basisFrom) * 2);
  });

  it('range points tile the window: per-step CO2e sums to the window total, power is energy over time', () => {
    expect(data.window.stepSeconds).toBe(3 * 3600);
    const llamaPoints = data.series.emissionsGramsByGroup.filter((p) => p.key === 'llama-3-8b');
    expect(llamaPoints).toHaveLength((14 * DAY) / (3 * 3600));
    expect(llamaPoints.at(-1)?.time).toBe(new Date(TO * 1000).toISOString());
    expectClose(
      llamaPoints.reduce((sum, p) => sum + p.value, 0),
      growth('ml_emissions_grams_total', (l) => l.ml_model === 'llama-3-8b'),
    );
    const lastNodeA = data.series.powerWattsByNode.filter((p) => p.key === 'gpu-node-a:9464').at(-1)!;
    expectClose(lastNodeA.value, hostJoules((l) => l.instance === 'gpu-node-a:9464', TO - 3 * 3600) / (3 * 3600));
    // The device-type stack is the host's devices too, so at every step it adds up to the node power.
    const sumAt = (points: typeof data.series.powerWattsByNode) =>
      points.reduce((byTime, p) => byTime.set(p.time, (byTime.get(p.time) ?? 0) + p.value), new Map<string, number>());
    const byType = sumAt(data.series.powerWattsByDeviceType);
    const byNode = sumAt(data.series.powerWattsByNode);
    expect([...byType.keys()]).toEqual([...byNode.keys()]);
    for (const [time, watts] of byNode) expectClose(byType.get(time), watts);
    expectClose(
      data.series.powerWattsByDeviceType.filter((p) => p.key === 'cpu').at(-1)!.value,
      hostJoules((l) => l.hw_type === 'cpu', TO - 3 * 3600) / (3 * 3600),
    );
    const zones = new Set(data.series.intensityByZone.map((p) => p.key));
    expect([...zones].sort()).toEqual(['DE (average)', 'FR (average)']);
    expect(new Set(data.series.intensityByZone.filter((p) => p.key === 'DE (average)').map((p) => p.value))).toContain(260);
  });

  it('shiftable saving: the nightly training run moved into the midday solar dip, as computed by hand', () => {
    // train-resnet on GPU-b1 (DE) runs 02:00-10:00 UTC at busy 0.95: 0.95 x (40 + 310 x 0.95) W = 317.775 W, 0.317775 kWh an hour,
    // x PUE 1.2 = 0.38133 kWh at the facility. The window holds days 14-19 of its run: 6 days, all before the day-21 drop.
    // As run: 0.38133 x 8 h x 420 g/kWh = 1281.2688 g a day. Best: any start from 08:00 to 12:00 covers the 12:00-16:00
    // dip at 420 - 180 = 240 g/kWh; the earliest, 08:00: 0.38133 x (4 x 420 + 4 x 240) = 1006.7112 g. Saving 274.5576 g a day.
    expect(data.shiftable.jobs).toHaveLength(1);
    const [resnet] = data.shiftable.jobs;
    expect(resnet).toMatchObject({ job: 'train-resnet', days: 6 });
    expectClose(resnet!.actualGrams, 6 * 1281.2688);
    expectClose(resnet!.bestGrams, 6 * 1006.7112);
    expectClose(resnet!.savingGrams, 1647.3456);
    expectClose(data.shiftable.totalSavingGrams, 1647.3456);
    // The as-run grams are the job's operational grams the counters hold.
    expectClose(
      resnet!.actualGrams,
      growth('ml_emissions_grams_total', (l) => l.ml_job === 'train-resnet' && l.carbon_scope === 'operational'),
    );
    const day = (n: number, hour: number) => new Date((HISTORY_START_SECONDS + n * DAY + hour * 3600) * 1000).toISOString();
    expect(data.shiftable.runs).toEqual(
      [14, 15, 16, 17, 18, 19].map((n) => ({ job: 'train-resnet', instance: 'gpu-node-b:9464', start: day(n, 2), end: day(n, 10), bestStart: day(n, 8) })),
    );
    // The chart's line: the applied intensity, PUE included: 1.2 x 240 = 288 in the dip, 1.2 x 420 = 504 outside,
    // 1.2 x 260 = 312 and 1.2 x 80 = 96 from day 21; the hour before day 21's midnight mixes 420 and 260 by energy.
    const applied = new Set(data.shiftable.intensityByNode.map((p) => Math.round(p.value * 1e6) / 1e6));
    expect([...applied].sort((a, b) => a - b)).toEqual([96, 288, 312, 455.909212, 504]);
  });

  // `footprint plan --model` reads the same Prometheus: this month's history is already loaded here.
  it("footprint plan --model takes the power from the model's measured mean over the last day", async () => {
    const config = parseConfig({ zone: 'DE', pue: 1, intensity: 400, logLevel: 'silent' });
    const answer = JSON.parse(
      await runPlan(config, { duration: '2h', model: 'llama-3-8b', prometheus: prometheus.url, format: 'json' }, await createLogger(config), TO * 1000),
    ) as { powerWatts: number; energyKwh: number; gramsCo2e: number; bestStartInSeconds: number };
    // Samples sit on both edges of [TO - 1 d, TO], so rate() is exactly the day's joules / 86 400 s.
    const watts = growth('ml_energy_joules_total', (l) => l.ml_model === 'llama-3-8b', TO - DAY, TO) / DAY;
    expectClose(answer.powerWatts, watts);
    expectClose(answer.energyKwh, (watts * 2 * 3600) / JOULES_PER_KWH);
    // --intensity 400 held flat: now is best; grams = kWh x 400.
    expect(answer.bestStartInSeconds).toBe(0);
    expectClose(answer.gramsCo2e, answer.energyKwh * 400);
    expect(modelPowerQuery('llama-3-8b')).toBe('sum(rate(ml_energy_joules_total{ml_model="llama-3-8b"}[1d]))');
    await expect(runPlan(config, { duration: '2h', model: 'nope', prometheus: prometheus.url }, await createLogger(config), TO * 1000)).rejects.toThrow(
      `plan: model: 'nope' has no energy in ${prometheus.url} over the last day (ml_energy_joules_total)`,
    );
  });

  it('report.md carries the same findings as tables', async () => {
    const markdown = await readFile(join(OUT, 'report.md'), 'utf8');
    expect(markdown).toContain('## Idle share');
    expect(markdown).toContain('| llama-3-8b |');
    expect(markdown).toContain('docs/methodology.md');
    expect(markdown).toContain('Method: linear');
    expect(markdown).toContain('## Shiftable saving');
    expect(markdown).toContain('| train-resnet | 6 | 7.688 | 6.040 | 1.647 | 21.4% |');
  });

  it('an empty window is an error that names the missing metrics', async () => {
    const error = await runReport({ prometheus: prometheus.url, from: '2020-01-01T00:00:00Z', to: '2020-01-15T00:00:00Z', out: join(TMP, 'empty') }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NoDataError);
    expect((error as Error).message).toMatch(
      /no data between 2020-01-01T00:00:00.000Z and 2020-01-15T00:00:00.000Z: missing hw_host_energy_joules_total, hw_energy_joules_total, .*ml_tokens_total/,
    );
  });

  describe.skipIf(!haveBinaries(CHROMIUM))('report.html in headless Chromium', () => {
    it('renders every chart without console errors and takes a screenshot', async () => {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const problems: string[] = [];
        page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
        page.on('pageerror', (error) => problems.push(error.message));
        const requests: string[] = [];
        page.on('request', (request) => requests.push(request.url()));
        await page.goto(`file://${join(OUT, 'report.html')}`, { waitUntil: 'load' });

        const marksPerChart = await page.$$eval('figure.chart', (figures) =>
          figures.map((figure) => [figure.getAttribute('data-chart'), figure.querySelectorAll('svg .role-mark > *').length] as const),
        );
        expect(marksPerChart.map(([id]) => id)).toEqual([
          'power-by-node',
          'power-by-device-type',
          'emissions-by-group',
          'emissions-by-model',
          'emissions-by-job',
          'emissions-by-namespace',
          'grams-per-1k-tokens',
          'idle-share-nodes',
          'idle-share-gpus',
          'measurement-method',
          'grid-intensity',
          'shiftable-intensity',
        ]);
        for (const [id, marks] of marksPerChart) expect(marks, id ?? '').toBeGreaterThan(0);
        expect(problems).toEqual([]);
        // Self-contained: the page loads nothing but itself.
        expect(requests.filter((url) => !url.startsWith('file://'))).toEqual([]);

        await mkdir(TMP, { recursive: true });
        await page.screenshot({ path: join(TMP, 'report.png'), fullPage: true });
        const chart = join(TMP, 'report-emissions-by-group.png');
        await page.locator('figure[data-chart="emissions-by-group"]').screenshot({ path: chart });
        // The README's image is refreshed on request, so ordinary runs leave the tree clean.
        if (process.env.FOOTPRINT_UPDATE_DOCS_IMAGES === '1') await copyFile(chart, resolve('docs/images/report-emissions-by-group.png'));
      } finally {
        await browser.close();
      }
    });
  });
});
