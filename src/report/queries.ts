// Every PromQL expression the report runs, in one place so docs/report.md can cite them.
// Window totals use increase(metric[W]) evaluated at the window's end: with samples on both edges
// it is exactly last - first, counter resets included; otherwise Prometheus extrapolates to the edges.
// hw_energy_joules_total also holds devices nested in others (RAPL sub-zones, psys next to its
// packages, hwmon sensors), so no total sums it: whole-host energy comes from hw_host_energy_joules_total,
// per-device-type energy from ml_energy_joules_total, which exists only for the host's devices.
import { METRICS as CONTRACT, prometheusSeriesNames, type InstrumentSpec } from '../telemetry/contract.ts';

// Series names come from the metric contract, so a renamed instrument cannot leave the report behind.
const series = (spec: InstrumentSpec): string => prometheusSeriesNames(spec)[0]!;

export const METRICS = {
  hostEnergy: series(CONTRACT.hostEnergy),
  hwEnergy: series(CONTRACT.hwEnergy),
  deviceEmissions: series(CONTRACT.carbonEmissions),
  deviceCost: series(CONTRACT.energyCost),
  mlEnergy: series(CONTRACT.mlEnergy),
  mlEmissions: series(CONTRACT.mlEmissions),
  mlCost: series(CONTRACT.mlCost),
  tokens: series(CONTRACT.mlTokens),
  requests: series(CONTRACT.mlRequests),
  intensity: series(CONTRACT.carbonIntensity),
} as const;

/** Without this one there is nothing to report; the others only leave sections empty. */
export const REQUIRED_METRIC = METRICS.hostEnergy;
/** The buckets whose exemplars are the costliest requests (src/telemetry/openmetrics.ts). */
export const REQUEST_ENERGY_BUCKETS = 'ml_request_energy_joules_bucket';

export type GroupBy = 'namespace' | 'model' | 'job' | 'node';
export const GROUP_BY_LABEL: Record<GroupBy, string> = {
  namespace: 'k8s_namespace_name',
  model: 'ml_model',
  job: 'ml_job',
  node: 'instance',
};

const ML_KEYS = ['ml_model', 'ml_job', 'ml_phase', 'k8s_namespace_name', 'instance'];

function increaseBy(metric: string, labels: string[], rangeSeconds: number): string {
  return `sum by (${labels.join(', ')}) (increase(${metric}[${rangeSeconds}s]))`;
}

/**
 * Attributed energy of the host's devices per measurement_method: ml_energy_joules_total carries no
 * method, so each device's growth takes it from that device's hw_energy_joules_total series (one
 * method per hw_id: a measured replacement for an estimated device gets a new hw_id).
 */
function energyByMethod(rangeSeconds: number): string {
  const range = `${rangeSeconds}s`;
  return (
    `sum by (measurement_method) (sum by (instance, hw_id) (increase(${METRICS.mlEnergy}[${range}]))` +
    ` * on (instance, hw_id) group_left (measurement_method)` +
    ` group by (instance, hw_id, measurement_method) (last_over_time(${METRICS.hwEnergy}[${range}])))`
  );
}

/** Counter totals over `[rangeSeconds]`, keyed for the analysis step. */
export function windowTotalQueries(rangeSeconds: number) {
  return {
    hostEnergy: increaseBy(METRICS.hostEnergy, ['instance'], rangeSeconds),
    energyByMethod: energyByMethod(rangeSeconds),
    deviceEmissions: increaseBy(METRICS.deviceEmissions, ['carbon_scope'], rangeSeconds),
    deviceCost: increaseBy(METRICS.deviceCost, ['currency'], rangeSeconds),
    mlEnergy: increaseBy(METRICS.mlEnergy, [...ML_KEYS, 'hw_id', 'hw_type'], rangeSeconds),
    mlEmissions: increaseBy(METRICS.mlEmissions, [...ML_KEYS, 'carbon_scope'], rangeSeconds),
    mlCost: increaseBy(METRICS.mlCost, [...ML_KEYS, 'currency'], rangeSeconds),
    tokens: increaseBy(METRICS.tokens, ['ml_model'], rangeSeconds),
    requests: increaseBy(METRICS.requests, ['ml_model'], rangeSeconds),
  };
}
export type WindowTotalKey = keyof ReturnType<typeof windowTotalQueries>;

/** The device-level totals the projection extrapolates. */
export const PROJECTED_KEYS = ['hostEnergy', 'deviceEmissions', 'deviceCost'] as const satisfies readonly WindowTotalKey[];

/** Range queries; each point at time t covers (t - step, t]. */
export function seriesQueries(stepSeconds: number, groupBy: GroupBy) {
  const step = `${stepSeconds}s`;
  const groupLabel = GROUP_BY_LABEL[groupBy];
  return {
    // An energy counter's rate is the exact mean power over each step; a sampled power gauge misses peaks.
    powerByNode: `sum by (instance) (rate(${METRICS.hostEnergy}[${step}]))`,
    // The host's devices only, so the stack adds up to the node power (trailing it by the attribution lag).
    powerByDeviceType: `sum by (hw_type) (rate(${METRICS.mlEnergy}[${step}]))`,
    intensityByZone: `avg by (carbon_zone, carbon_signal) (avg_over_time(${METRICS.intensity}[${step}]))`,
    emissionsByGroup: `sum by (${groupLabel}, ml_phase) (increase(${METRICS.mlEmissions}[${step}]))`,
    gramsPer1kTokensByModel:
      `1000 * sum by (ml_model) (increase(${METRICS.mlEmissions}{ml_phase!="idle"}[${step}]))` +
      ` / (sum by (ml_model) (increase(${METRICS.tokens}[${step}])) > 0)`,
  };
}
export type SeriesKey = keyof ReturnType<typeof seriesQueries>;

/**
 * Hourly inputs of the shiftable-saving section (src/report/shiftable.ts), buckets ending on the hour:
 * each training job's energy per node, and each node's operational grams and host-device energy,
 * whose ratio is the intensity the daemon applied (PUE included).
 */
export function shiftableQueries() {
  return {
    trainingEnergy: `sum by (ml_job, instance) (increase(${METRICS.mlEnergy}{ml_phase="training"}[1h]))`,
    nodeOperationalGrams: `sum by (instance) (increase(${METRICS.mlEmissions}{carbon_scope="operational"}[1h]))`,
    nodeEnergy: `sum by (instance) (increase(${METRICS.mlEnergy}[1h]))`,
  };
}
export type ShiftableKey = keyof ReturnType<typeof shiftableQueries>;

/** Which of the report's metrics have any sample in the window. */
export function presenceQuery(rangeSeconds: number): string {
  return `count by (__name__) (last_over_time({__name__=~"${Object.values(METRICS).join('|')}"}[${rangeSeconds}s]))`;
}
