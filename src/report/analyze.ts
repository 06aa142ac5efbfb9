// Turns raw query results into the report's numbers: totals and changes, breakdowns, per-model
// efficiency, idle and measured shares, the projection and chart series.
import type { RawReport } from './collect.ts';
import { costliestRequests } from './costliest.ts';
import type { PromSample } from './prometheus-client.ts';
import { formatSpan } from './format.ts';
import { GROUP_BY_LABEL, type GroupBy, type WindowTotalKey } from './queries.ts';
import type { BreakdownRow, Change, IdleRow, ModelEfficiency, ReportData, ScopedGrams, SeriesPoint } from './report-data.ts';
import { gramsPerJouleByNode, shiftableSavings } from './shiftable.ts';

const JOULES_PER_KWH = 3_600_000;
/** measurement.method values that come from hardware; `model` is estimated. */
const MEASURED_METHODS = new Set(['counter', 'power']);

export interface AnalysisContext {
  prometheusUrl: string;
  fromSeconds: number;
  toSeconds: number;
  stepSeconds: number;
  projectionBasisSeconds: number;
  groupBy: GroupBy;
  topN: number;
  now: Date;
}

type Totals = Record<WindowTotalKey, PromSample[]>;

/** The issue asks for the ten costliest requests of the window. */
const COSTLIEST_REQUESTS = 10;

function lastValue(sample: PromSample): number {
  const point = sample.points[sample.points.length - 1];
  return point && Number.isFinite(point[1]) ? point[1] : 0;
}

function sum(samples: PromSample[], where: (metric: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => where(s.metric)).reduce((total, s) => total + lastValue(s), 0);
}

function sumBy(samples: PromSample[], key: (metric: Record<string, string>) => string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const sample of samples) sums.set(key(sample.metric), (sums.get(key(sample.metric)) ?? 0) + lastValue(sample));
  return sums;
}

function change(current: number, previous: number): Change {
  return { current, previous, changeRatio: previous === 0 ? null : (current - previous) / previous };
}

function ratio(numerator: number, denominator: number, scale = 1): number | null {
  return denominator > 0 ? (numerator / denominator) * scale : null;
}

/** Empty workload labels are idle energy or workloads nobody labelled; say which. */
function workloadKey(metric: Record<string, string>, label: string): string {
  const value = metric[label];
  if (value) return value;
  return metric.ml_phase === 'idle' ? '(idle)' : '(unlabelled)';
}

function scopedGrams(samples: PromSample[]): ScopedGrams<number> {
  const operational = sum(samples, (m) => m.carbon_scope === 'operational');
  const embodied = sum(samples, (m) => m.carbon_scope === 'embodied');
  return { operational, embodied, total: operational + embodied };
}

function costByCurrency(samples: PromSample[]): Record<string, number> {
  return Object.fromEntries(sumBy(samples, (m) => m.currency ?? ''));
}

function totals(current: Totals, previous: Totals): ReportData['totals'] {
  const currentGrams = scopedGrams(current.deviceEmissions);
  const previousGrams = scopedGrams(previous.deviceEmissions);
  const currentCost = costByCurrency(current.deviceCost);
  const previousCost = costByCurrency(previous.deviceCost);
  const currencies = [...new Set([...Object.keys(currentCost), ...Object.keys(previousCost)])].sort();
  return {
    energyKilowattHours: change(sum(current.hostEnergy) / JOULES_PER_KWH, sum(previous.hostEnergy) / JOULES_PER_KWH),
    emissionsGrams: {
      operational: change(currentGrams.operational, previousGrams.operational),
      embodied: change(currentGrams.embodied, previousGrams.embodied),
      total: change(currentGrams.total, previousGrams.total),
    },
    cost: Object.fromEntries(currencies.map((c) => [c, change(currentCost[c] ?? 0, previousCost[c] ?? 0)])),
    requests: change(sum(current.requests), sum(previous.requests)),
    tokens: change(sum(current.tokens), sum(previous.tokens)),
  };
}

/** Per-key energy, CO2e and cost, sorted by CO2e; keys past topN fold into one "(rest)" row. */
function breakdown(current: Totals, label: string, topN: number): BreakdownRow[] {
  const rows = new Map<string, BreakdownRow>();
  const row = (key: string) => {
    let found = rows.get(key);
    if (!found) {
      found = { key, energyKilowattHours: 0, emissionsGrams: 0, cost: {} };
      rows.set(key, found);
    }
    return found;
  };
  for (const s of current.mlEnergy) row(workloadKey(s.metric, label)).energyKilowattHours += lastValue(s) / JOULES_PER_KWH;
  for (const s of current.mlEmissions) row(workloadKey(s.metric, label)).emissionsGrams += lastValue(s);
  for (const s of current.mlCost) {
    const cost = row(workloadKey(s.metric, label)).cost;
    cost[s.metric.currency ?? ''] = (cost[s.metric.currency ?? ''] ?? 0) + lastValue(s);
  }
  const sorted = [...rows.values()].sort((a, b) => b.emissionsGrams - a.emissionsGrams);
  if (sorted.length <= topN) return sorted;
  const rest: BreakdownRow = { key: '(rest)', energyKilowattHours: 0, emissionsGrams: 0, cost: {}, restCount: sorted.length - topN };
  for (const folded of sorted.slice(topN)) {
    rest.energyKilowattHours += folded.energyKilowattHours;
    rest.emissionsGrams += folded.emissionsGrams;
    for (const [currency, amount] of Object.entries(folded.cost)) rest.cost[currency] = (rest.cost[currency] ?? 0) + amount;
  }
  return [...sorted.slice(0, topN), rest];
}

function perModel(current: Totals, previous: Totals): ModelEfficiency[] {
  const attributed = (m: Record<string, string>) => m.ml_phase !== 'idle' && Boolean(m.ml_model);
  const gramsFor = (window: Totals, model: string) => sum(window.mlEmissions, (m) => attributed(m) && m.ml_model === model);
  const tokensFor = (window: Totals, model: string) => sum(window.tokens, (m) => m.ml_model === model);
  const requestsFor = (window: Totals, model: string) => sum(window.requests, (m) => m.ml_model === model);
  const models = [...new Set([...current.tokens, ...current.requests].map((s) => s.metric.ml_model ?? ''))].filter(Boolean).sort();
  return models.map((model) => {
    const tokens = tokensFor(current, model);
    const requests = requestsFor(current, model);
    const emissionsGrams = gramsFor(current, model);
    const costs = costByCurrency(current.mlCost.filter((s) => attributed(s.metric) && s.metric.ml_model === model));
    const gramsPer1kTokens = ratio(emissionsGrams, tokens, 1000);
    const previousGramsPer1kTokens = ratio(gramsFor(previous, model), tokensFor(previous, model), 1000);
    const scaled = (scale: number, denominator: number) =>
      Object.fromEntries(Object.entries(costs).flatMap(([c, amount]) => (denominator > 0 ? [[c, (amount / denominator) * scale]] : [])));
    return {
      model,
      requests,
      tokens,
      emissionsGrams,
      gramsPer1kTokens,
      gramsPerRequest: ratio(emissionsGrams, requests),
      costPer1kTokens: scaled(1000, tokens),
      costPerRequest: scaled(1, requests),
      previousGramsPer1kTokens,
      previousGramsPerRequest: ratio(gramsFor(previous, model), requestsFor(previous, model)),
      gramsPer1kTokensChangeRatio:
        gramsPer1kTokens !== null && previousGramsPer1kTokens ? (gramsPer1kTokens - previousGramsPer1kTokens) / previousGramsPer1kTokens : null,
    };
  });
}

function idleRows(
  samples: PromSample[],
  key: (m: Record<string, string>) => string,
  describe: (key: string) => Omit<IdleRow, 'idleKilowattHours' | 'totalKilowattHours' | 'share'>,
): IdleRow[] {
  const totalsByKey = sumBy(samples, key);
  const idleByKey = sumBy(
    samples.filter((s) => s.metric.ml_phase === 'idle'),
    key,
  );
  return [...totalsByKey]
    .map(([k, totalJoules]) => {
      const idleJoules = idleByKey.get(k) ?? 0;
      return {
        ...describe(k),
        idleKilowattHours: idleJoules / JOULES_PER_KWH,
        totalKilowattHours: totalJoules / JOULES_PER_KWH,
        share: totalJoules > 0 ? idleJoules / totalJoules : 0,
      };
    })
    .sort((a, b) => b.share - a.share);
}

function idleShare(current: Totals): ReportData['idleShare'] {
  const gpuSamples = current.mlEnergy.filter((s) => s.metric.hw_type === 'gpu');
  // hw_id is unique per node only, so GPUs are keyed by node and id together.
  const separator = '\u0000';
  return {
    nodes: idleRows(
      current.mlEnergy,
      (m) => m.instance ?? '',
      (node) => ({ node }),
    ),
    gpus: idleRows(
      gpuSamples,
      (m) => `${m.instance ?? ''}${separator}${m.hw_id ?? ''}`,
      (k) => {
        const [node = '', hwId = ''] = k.split(separator);
        return { node, hwId };
      },
    ),
  };
}

function measurement(current: Totals): ReportData['measurement'] {
  const totalJoules = sum(current.energyByMethod);
  const methods = [...sumBy(current.energyByMethod, (m) => m.measurement_method ?? '')]
    .map(([method, joules]) => ({
      method,
      measured: MEASURED_METHODS.has(method),
      kilowattHours: joules / JOULES_PER_KWH,
      share: totalJoules > 0 ? joules / totalJoules : 0,
    }))
    .sort((a, b) => b.share - a.share);
  return { methods, measuredShare: methods.filter((m) => m.measured).reduce((total, m) => total + m.share, 0) };
}

function projection(raw: RawReport, context: AnalysisContext): ReportData['projection'] {
  const horizonSeconds = context.toSeconds - context.fromSeconds;
  const scale = horizonSeconds / context.projectionBasisSeconds;
  const grams = scopedGrams(raw.projectionBasis.deviceEmissions);
  return {
    method:
      `linear: the mean rate of the last ${formatSpan(context.projectionBasisSeconds)} of the window ` +
      `(increase over that span) times the length of the next window (${formatSpan(horizonSeconds)})`,
    basisSeconds: context.projectionBasisSeconds,
    horizonSeconds,
    energyKilowattHours: (sum(raw.projectionBasis.hostEnergy) / JOULES_PER_KWH) * scale,
    emissionsGrams: { operational: grams.operational * scale, embodied: grams.embodied * scale, total: grams.total * scale },
    cost: Object.fromEntries(Object.entries(costByCurrency(raw.projectionBasis.deviceCost)).map(([c, amount]) => [c, amount * scale])),
  };
}

function points(samples: PromSample[], key: (m: Record<string, string>) => string): SeriesPoint[] {
  // Several samples can share a key (a model seen in several phases); sum them per timestamp.
  const byKeyAndTime = new Map<string, SeriesPoint>();
  for (const sample of samples) {
    for (const [t, value] of sample.points) {
      if (!Number.isFinite(value)) continue;
      const time = new Date(t * 1000).toISOString();
      const id = `${key(sample.metric)}|${time}`;
      const existing = byKeyAndTime.get(id);
      if (existing) existing.value += value;
      else byKeyAndTime.set(id, { time, key: key(sample.metric), value });
    }
  }
  return [...byKeyAndTime.values()].sort((a, b) => a.key.localeCompare(b.key) || a.time.localeCompare(b.time));
}

export function analyze(raw: RawReport, context: AnalysisContext): ReportData {
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  const lengthSeconds = context.toSeconds - context.fromSeconds;
  const groupLabel = GROUP_BY_LABEL[context.groupBy];
  return {
    generatedAt: context.now.toISOString(),
    prometheusUrl: context.prometheusUrl,
    window: { from: iso(context.fromSeconds), to: iso(context.toSeconds), lengthSeconds, stepSeconds: context.stepSeconds },
    previousWindow: { from: iso(context.fromSeconds - lengthSeconds), to: iso(context.fromSeconds) },
    groupBy: context.groupBy,
    topN: context.topN,
    totals: totals(raw.current, raw.previous),
    projection: projection(raw, context),
    breakdowns: {
      model: breakdown(raw.current, GROUP_BY_LABEL.model, context.topN),
      job: breakdown(raw.current, GROUP_BY_LABEL.job, context.topN),
      namespace: breakdown(raw.current, GROUP_BY_LABEL.namespace, context.topN),
      node: breakdown(raw.current, GROUP_BY_LABEL.node, context.topN),
    },
    perModel: perModel(raw.current, raw.previous),
    idleShare: idleShare(raw.current),
    measurement: measurement(raw.current),
    series: {
      powerWattsByNode: points(raw.series.powerByNode, (m) => m.instance ?? ''),
      powerWattsByDeviceType: points(raw.series.powerByDeviceType, (m) => m.hw_type ?? ''),
      intensityByZone: points(raw.series.intensityByZone, (m) => `${m.carbon_zone ?? ''} (${m.carbon_signal ?? ''})`),
      emissionsGramsByGroup: points(raw.series.emissionsByGroup, (m) => workloadKey(m, groupLabel)),
      gramsPer1kTokensByModel: points(raw.series.gramsPer1kTokensByModel, (m) => m.ml_model ?? ''),
    },
    shiftable: shiftable(raw),
    costliestRequests: {
      stored: raw.exemplars !== undefined && raw.exemplars.length > 0,
      requests: costliestRequests(raw.exemplars ?? [], COSTLIEST_REQUESTS),
    },
    missingMetrics: raw.missingMetrics,
  };
}

function shiftable(raw: RawReport): ReportData['shiftable'] {
  const rates = gramsPerJouleByNode(raw.shiftable.nodeOperationalGrams, raw.shiftable.nodeEnergy);
  const result = shiftableSavings(raw.shiftable.trainingEnergy, rates);
  // The chart draws the nodes the jobs ran on: g/J x 3.6e6 = gCO2e per kWh at the devices, PUE included.
  const nodes = new Set(result.runs.map((run) => run.instance));
  const intensityByNode = [...rates]
    .filter(([instance]) => nodes.has(instance))
    .flatMap(([instance, byTime]) =>
      [...byTime].map(([timeSeconds, gramsPerJoule]) => ({
        time: new Date(timeSeconds * 1000).toISOString(),
        key: instance,
        value: gramsPerJoule * JOULES_PER_KWH,
      })),
    )
    .sort((a, b) => a.key.localeCompare(b.key) || a.time.localeCompare(b.time));
  return { ...result, intensityByNode };
}
