// The series the fleet, inference and training dashboards read: per-minute increases and instant
// aggregates recorded once a minute, summed away from nodes, pods and devices (keeping `cluster`, which
// the dashboards filter on). A panel then reads a few series per model or job instead of every node's,
// so it answers in the same time at 10 nodes and at 1,000 (docs/architecture.md "How it scales").
// Node-scoped panels (node dashboard, the devices of a job) still read raw series, filtered by node.
import { LOCAL_WORK } from './slo.ts';

/** Every footprint rule group evaluates once a minute; the increases below cover one interval each. */
export const RULE_INTERVAL = '1m';

interface Recording {
  record: string;
  expr: string;
}

const increase = (selector: string, by: string) => `sum by (${by}) (increase(${selector}[${RULE_INTERVAL}]))`;

const WORKLOAD_LABELS = 'cluster, k8s_namespace_name, ml_model, ml_job, ml_phase';

/** The names panels read. */
export const RECORDED = {
  hostPower: 'cluster:hw_host_power_watts:sum',
  hostEnergy: 'cluster:hw_host_energy_joules:increase1m',
  emissionsByScope: 'cluster_scope:carbon_emissions_grams:increase1m',
  costByCurrency: 'cluster_currency:energy_cost:increase1m',
  attributedEnergy: 'cluster:ml_energy_joules:increase1m',
  measuredEnergy: 'cluster:ml_energy_joules_measured:increase1m',
  intensity: 'cluster_zone:carbon_intensity_grams_per_kilowatt_hour:max',
  intensityAge: 'cluster_zone:footprint_carbon_intensity_age_seconds:max',
  intensityFallbacks: 'cluster:footprint_carbon_intensity_fallback:sum',
  forecast: 'cluster_zone:carbon_forecast_intensity_grams_per_kilowatt_hour:max',
  bestStart: 'cluster_zone:carbon_forecast_best_start_seconds:min',
  bestIntensity: 'cluster_zone:carbon_forecast_best_intensity_grams_per_kilowatt_hour:min',
  workloadEnergy: 'cluster_workload:ml_energy_joules:increase1m',
  workloadEmissions: 'cluster_workload:ml_emissions_grams:increase1m',
  workloadCost: 'cluster_workload:ml_cost:increase1m',
  modelRequests: 'cluster_model:ml_requests:increase1m',
  modelLocalTokens: 'cluster_model:ml_tokens_local:increase1m',
  modelDurationBuckets: 'cluster_model:ml_request_duration_seconds_bucket:increase1m',
  modelEnergyBuckets: 'cluster_model:ml_request_energy_joules_bucket:increase1m',
} as const;

export const DASHBOARD_RECORDINGS: Recording[] = [
  { record: RECORDED.hostPower, expr: 'sum by (cluster) (hw_host_power_watts)' },
  { record: RECORDED.hostEnergy, expr: increase('hw_host_energy_joules_total', 'cluster') },
  { record: RECORDED.emissionsByScope, expr: increase('carbon_emissions_grams_total', 'cluster, carbon_scope') },
  { record: RECORDED.costByCurrency, expr: increase('energy_cost_total', 'cluster, currency') },
  { record: RECORDED.attributedEnergy, expr: increase('ml_energy_joules_total', 'cluster') },
  // ml_energy exists exactly for the host's devices; each device's method comes from its own hw_energy series.
  {
    record: RECORDED.measuredEnergy,
    expr: `sum by (cluster) (\n  ${increase('ml_energy_joules_total', 'cluster, instance, hw_id')}\n  and on (cluster, instance, hw_id) hw_energy_joules_total{measurement_method!="model"}\n)`,
  },
  { record: RECORDED.intensity, expr: 'max by (cluster, carbon_zone, carbon_source, carbon_signal) (carbon_intensity_grams_per_kilowatt_hour)' },
  { record: RECORDED.intensityAge, expr: 'max by (cluster, carbon_zone, carbon_source) (footprint_carbon_intensity_age_seconds)' },
  { record: RECORDED.intensityFallbacks, expr: 'sum by (cluster) (footprint_carbon_intensity_fallback)' },
  { record: RECORDED.forecast, expr: 'max by (cluster, carbon_zone, carbon_source, forecast_offset) (carbon_forecast_intensity_grams_per_kilowatt_hour)' },
  { record: RECORDED.bestStart, expr: 'min by (cluster, carbon_zone, forecast_duration) (carbon_forecast_best_start_seconds)' },
  { record: RECORDED.bestIntensity, expr: 'min by (cluster, carbon_zone, forecast_duration) (carbon_forecast_best_intensity_grams_per_kilowatt_hour)' },
  { record: RECORDED.workloadEnergy, expr: increase('ml_energy_joules_total', WORKLOAD_LABELS) },
  { record: RECORDED.workloadEmissions, expr: increase('ml_emissions_grams_total', WORKLOAD_LABELS) },
  { record: RECORDED.workloadCost, expr: increase('ml_cost_total', `${WORKLOAD_LABELS}, currency`) },
  { record: RECORDED.modelRequests, expr: increase('ml_requests_total', 'cluster, ml_model, ml_phase') },
  { record: RECORDED.modelLocalTokens, expr: increase(`ml_tokens_total{${LOCAL_WORK}}`, 'cluster, ml_model') },
  { record: RECORDED.modelDurationBuckets, expr: increase('ml_request_duration_seconds_bucket', 'cluster, ml_model, le') },
  { record: RECORDED.modelEnergyBuckets, expr: increase('ml_request_energy_joules_bucket', 'cluster, ml_model, le') },
];

/** What a recorded per-minute increase adds up to over a Grafana range (`$__range`, `$__rate_interval`). */
export const sumOverRange = (selector: string, range: string) => `sum_over_time(${selector}[${range}])`;
/** Per-second rate from a recorded per-minute increase, averaged over `range`. */
export const perSecond = (selector: string, range = '$__rate_interval') => `avg_over_time(${selector}[${range}]) / 60`;
