// The Prometheus rule files under deploy/prometheus/rules: recording rules for the per-model and
// per-namespace ratios, the carbon SLOs (budget burn and efficiency) and the daemon's operational alerts.
import { RESIDENT_PRESSURE_RATIO } from '../ingest/memory-guard.ts';
import { DASHBOARD_RECORDINGS, RULE_INTERVAL } from './recordings.ts';
import {
  BUDGET_SCOPES,
  BUDGET_SERIES,
  BURN_RATE_WINDOWS,
  BURN_WINDOWS,
  type BudgetScope,
  DEFAULT_NAMESPACE_BUDGET_GRAMS_PER_DAY,
  DEFAULT_OBJECTIVE_GRAMS_PER_1K_TOKENS,
  EFFICIENCY_FOR,
  EFFICIENCY_RECORD,
  GRAMS_PER_1K_TOKENS_RECORD,
  OBJECTIVE_SERIES,
  burnRateExpr,
  burnRateRecord,
  efficiencyExpr,
  LOCAL_WORK,
  runbookUrl,
  seconds,
} from './slo.ts';

interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

interface RuleGroup {
  name: string;
  interval?: string;
  rules: (RecordingRule | AlertingRule)[];
}

export interface RuleFile {
  /** File name under deploy/prometheus/rules. */
  file: string;
  groups: RuleGroup[];
}

/**
 * Every footprint group evaluates once a minute. Long windows are sums of the per-minute increases the same
 * group recorded: in a group every rule of one evaluation shares its timestamp, so a window half an interval
 * short of `window` holds exactly window/interval recordings (whether or not the range includes its start).
 */
const INTERVAL = RULE_INTERVAL;
const INTERVAL_S = seconds(INTERVAL);

/** `sum by (by) (increase(selector[1m]))`: the raw counters, summed away from pods, devices and nodes first. */
const increase = (selector: string, by: string) => `sum by (${by}) (increase(${selector}[${INTERVAL}]))`;

/** PromQL duration `window` less half an evaluation interval, e.g. 1h -> 59m30s. */
function windowOfRecordings(window: string): string {
  let remainingS = seconds(window) - INTERVAL_S / 2;
  let duration = '';
  for (const [unit, unitS] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (remainingS >= unitS) duration += `${Math.floor(remainingS / unitS)}${unit}`;
    remainingS %= unitS;
  }
  return duration;
}

/** What the per-minute increases recorded in `record` add up to over `window`. */
const sumOver = (record: string, window: string) => `sum_over_time(${record}[${windowOfRecordings(window)}])`;
/** Per-second rate over `window` from the per-minute increases in `record`, optionally summed by labels. */
const rateOf = (record: string, window: string, by?: string) =>
  by ? `sum by (${by}) (${sumOver(record, window)}) / ${seconds(window)}` : `${sumOver(record, window)} / ${seconds(window)}`;

const MODEL_NAMESPACE_EMISSIONS = 'model_namespace:ml_emissions_grams:increase1m';
const MODEL_NAMESPACE_ENERGY = 'model_namespace:ml_energy_joules:increase1m';
const MODEL_NAMESPACE_COST = 'model_namespace:ml_cost:increase1m';
const MODEL_TOKENS = 'model:ml_tokens:increase1m';
const MODEL_REQUESTS = 'model:ml_requests:increase1m';

/** A model's per-second rate over 5m of an increase recorded by model and namespace. */
const modelRate5m = (record: string, by = 'ml_model') => rateOf(`${record}{ml_model!=""}`, '5m', by);

const RATIOS: RuleGroup = {
  name: 'footprint-ratios',
  interval: INTERVAL,
  rules: [
    // ml_model="" (idle, and pods without a model) stays in: the namespace totals add it.
    { record: MODEL_NAMESPACE_EMISSIONS, expr: increase('ml_emissions_grams_total', 'ml_model, k8s_namespace_name') },
    { record: MODEL_NAMESPACE_ENERGY, expr: increase('ml_energy_joules_total', 'ml_model, k8s_namespace_name') },
    { record: MODEL_NAMESPACE_COST, expr: increase('ml_cost_total', 'ml_model, k8s_namespace_name, currency') },
    // Tokens and requests carry no namespace label (docs/architecture.md, metric contract), so the per-token and
    // per-request ratios are per model; remote ones used no local energy.
    { record: MODEL_TOKENS, expr: increase(`ml_tokens_total{${LOCAL_WORK}}`, 'ml_model') },
    { record: MODEL_REQUESTS, expr: increase(`ml_requests_total{${LOCAL_WORK}}`, 'ml_model') },
    { record: 'namespace:ml_emissions_grams:rate5m', expr: rateOf(MODEL_NAMESPACE_EMISSIONS, '5m', 'k8s_namespace_name') },
    { record: 'namespace:ml_energy_joules:rate5m', expr: rateOf(MODEL_NAMESPACE_ENERGY, '5m', 'k8s_namespace_name') },
    { record: 'namespace:ml_cost:rate5m', expr: rateOf(MODEL_NAMESPACE_COST, '5m', 'k8s_namespace_name, currency') },
    { record: 'model_namespace:ml_emissions_grams:rate5m', expr: modelRate5m(MODEL_NAMESPACE_EMISSIONS, 'ml_model, k8s_namespace_name') },
    { record: 'model_namespace:ml_energy_joules:rate5m', expr: modelRate5m(MODEL_NAMESPACE_ENERGY, 'ml_model, k8s_namespace_name') },
    {
      record: GRAMS_PER_1K_TOKENS_RECORD,
      expr: `1000 * ${modelRate5m(MODEL_NAMESPACE_EMISSIONS)}\n  / (${rateOf(MODEL_TOKENS, '5m')} > 0)`,
    },
    {
      record: 'model:ml_energy_joules_per_token:ratio_rate5m',
      expr: `${modelRate5m(MODEL_NAMESPACE_ENERGY)}\n  / (${rateOf(MODEL_TOKENS, '5m')} > 0)`,
    },
    {
      record: 'model:ml_cost_per_1m_tokens:ratio_rate5m',
      expr: `1e6 * ${modelRate5m(MODEL_NAMESPACE_COST, 'ml_model, currency')}\n  / on (ml_model) group_left ()\n  (${rateOf(MODEL_TOKENS, '5m')} > 0)`,
    },
    {
      record: 'model:ml_emissions_grams_per_request:ratio_rate5m',
      expr: `${modelRate5m(MODEL_NAMESPACE_EMISSIONS)}\n  / (${rateOf(MODEL_REQUESTS, '5m')} > 0)`,
    },
  ],
};

const TARGETS: RuleGroup = {
  name: 'footprint-carbon-targets',
  rules: [
    {
      record: BUDGET_SERIES,
      expr: `vector(${DEFAULT_NAMESPACE_BUDGET_GRAMS_PER_DAY})`,
      labels: { budget_scope: 'namespace' },
    },
    { record: OBJECTIVE_SERIES, expr: `vector(${DEFAULT_OBJECTIVE_GRAMS_PER_1K_TOKENS})` },
  ],
};

/** Each scope's emissions per minute, recorded in the budget group so its windows count whole evaluations. */
const emittedRecord = (scope: BudgetScope) => `${scope.name}:ml_emissions_grams:increase1m`;
const EMITTED = BUDGET_SCOPES.map((scope) => ({
  record: emittedRecord(scope),
  expr: increase(`ml_emissions_grams_total{${scope.label}!=""}`, scope.label),
}));

// Burn rates and the alerts on them share a group: rules in a group run in order, so each alert
// reads the burn rates of the same evaluation rather than the previous one.
const BURN_RATES = BUDGET_SCOPES.flatMap((scope) =>
  BURN_RATE_WINDOWS.map((window) => ({
    record: burnRateRecord(scope, window),
    expr: burnRateExpr(scope, `(${rateOf(emittedRecord(scope), window)})`, 'recorded'),
  })),
);

const BURN_ALERTS: AlertingRule[] = BUDGET_SCOPES.flatMap((scope) =>
  BURN_WINDOWS.map((w) => ({
    alert: scope.alert,
    expr: `${burnRateRecord(scope, w.long)} > ${w.factor}\nand\n${burnRateRecord(scope, w.short)} > ${w.factor}`,
    labels: { severity: w.severity, long_window: w.long, short_window: w.short },
    annotations: {
      summary: `${scope.name} {{ $labels.${scope.label} }} is burning its carbon budget ${w.factor}x too fast`,
      description:
        `Over the last ${w.long} (and still over the last ${w.short}) ${scope.name} "{{ $labels.${scope.label} }}" emitted CO2e at ` +
        `{{ $value | printf "%.1f" }}x the rate its daily budget allows (${BUDGET_SERIES}); at ${w.factor}x a day's budget lasts ` +
        `${(24 / w.factor).toFixed(1)} hours.`,
      runbook_url: runbookUrl(scope.alert),
    },
  })),
);

const BUDGET_BURN: RuleGroup = { name: 'footprint-carbon-budget', interval: INTERVAL, rules: [...EMITTED, ...BURN_RATES, ...BURN_ALERTS] };

const EFFICIENCY: RuleGroup = {
  name: 'footprint-carbon-efficiency',
  rules: [
    { record: EFFICIENCY_RECORD, expr: efficiencyExpr(GRAMS_PER_1K_TOKENS_RECORD, 'recorded') },
    {
      alert: 'FootprintCarbonEfficiencyObjectiveMissed',
      expr: `${EFFICIENCY_RECORD} > 1`,
      for: EFFICIENCY_FOR,
      labels: { severity: 'ticket' },
      annotations: {
        summary: 'model {{ $labels.ml_model }} emits more CO2e per 1k tokens than its objective',
        description:
          `For ${EFFICIENCY_FOR}, model "{{ $labels.ml_model }}" has emitted {{ $value | printf "%.2f" }}x its objective of gCO2e per 1k tokens ` +
          `(${OBJECTIVE_SERIES}). Batching, a smaller model or a cleaner zone brings it back.`,
        runbook_url: runbookUrl('FootprintCarbonEfficiencyObjectiveMissed'),
      },
    },
  ],
};

function operational(alert: string, expr: string, forDuration: string, summary: string, description: string): AlertingRule {
  return { alert, expr, for: forDuration, labels: { severity: 'ticket' }, annotations: { summary, description, runbook_url: runbookUrl(alert) } };
}

/** Stale intensity: older than the daemon's default intensityMaxAge (1h), after which it falls back to static. */
const INTENSITY_MAX_AGE_S = 3600;
/** Share of ingested spans not accepted above which spans are being lost to attribution. */
const INGEST_REJECT_RATIO = 0.01;

/** The agent's own limits: a share of the descriptor limit, and an event-loop delay that delays scrapes (memory: its memory guard's soft limit). */
const AGENT_PRESSURE_RATIO = 0.8;
const AGENT_EVENT_LOOP_LAG_S = 0.25;
/** Scopes the process_* and nodejs_* series, which other exporters also publish, to footprint's targets. */
const ON_FOOTPRINT = 'and on (instance) footprint_sample_duration_seconds';

const OPERATIONAL: RuleGroup = {
  name: 'footprint-operational',
  rules: [
    operational(
      'FootprintDeviceLost',
      'max by (instance, hw_id, hw_type) (hw_status{hw_state="failed"}) > 0',
      '5m',
      'footprint lost device {{ $labels.hw_id }} on {{ $labels.instance }}',
      'footprint on {{ $labels.instance }} reports {{ $labels.hw_type }} {{ $labels.hw_id }} as failed for 5 minutes: its energy is no longer measured or attributed. hw_errors_total{hw_id="{{ $labels.hw_id }}"} and the daemon log name the cause.',
    ),
    operational(
      'FootprintEnergyCounterStalled',
      // A failed device is FootprintDeviceLost's business; this catches counters that silently stop.
      'rate(hw_energy_joules_total[10m]) == 0\nunless on (instance, hw_id)\n(hw_status{hw_state="failed"} > 0)',
      '10m',
      'energy counter of {{ $labels.hw_id }} on {{ $labels.instance }} is not advancing',
      'hw_energy_joules_total for {{ $labels.hw_name }} ({{ $labels.hw_id }}, method {{ $labels.measurement_method }}) has not increased for 20 minutes while the device reports ok. A powered device always uses energy, so the counter source is stuck.',
    ),
    operational(
      'FootprintIntensityStale',
      `footprint_carbon_intensity_age_seconds{carbon_source!="static"} > ${INTENSITY_MAX_AGE_S}`,
      '10m',
      'carbon intensity for zone {{ $labels.carbon_zone }} is {{ $value | humanizeDuration }} old',
      `The live intensity provider ({{ $labels.carbon_source }}) for zone {{ $labels.carbon_zone }} on {{ $labels.instance }} has not delivered a value for more than ${INTENSITY_MAX_AGE_S / 3600}h; CO2e is computed from the last good value.`,
    ),
    operational(
      'FootprintIntensityFallback',
      'max by (instance, carbon_zone, carbon_source) (footprint_carbon_intensity_fallback) == 1',
      '30m',
      'footprint on {{ $labels.instance }} uses static intensity for zone {{ $labels.carbon_zone }}',
      'The configured intensity provider failed long enough that footprint fell back to the bundled static annual average for {{ $labels.carbon_zone }}; CO2e is still published but no longer follows the grid hour by hour.',
    ),
    operational(
      'FootprintEstimatedOnlyNode',
      // Measured means one of the host's devices (those with attributed energy): a hwmon sensor or sub-zone
      // around estimated parts measures none of the energy the node reports.
      'count by (instance) (hw_energy_joules_total{measurement_method="model"})\nunless on (instance)\ncount by (instance) (hw_energy_joules_total{measurement_method!="model"} and on (instance, hw_id) ml_energy_joules_total)',
      '30m',
      'footprint on {{ $labels.instance }} only estimates energy',
      'Every device that makes up {{ $labels.instance }} is measured by the load model, none by a hardware counter or power sensor, so its energy and CO2e are estimates. `footprint doctor` on the node names the missing permission or library.',
    ),
    operational(
      'FootprintIngestRejectingSpans',
      // "ignored" spans (nested and CLIENT spans) are not activities by design, so they count on neither side.
      `sum by (instance, outcome) (rate(footprint_ingest_spans_total{outcome!~"accepted|ignored"}[5m]))\n  / on (instance) group_left ()\nsum by (instance) (rate(footprint_ingest_spans_total{outcome!="ignored"}[5m]))\n> ${INGEST_REJECT_RATIO}`,
      '10m',
      'footprint on {{ $labels.instance }} is not accepting {{ $value | humanizePercentage }} of spans ({{ $labels.outcome }})',
      `More than ${INGEST_REJECT_RATIO * 100}% of the spans sent to /v1/traces on {{ $labels.instance }} end as "{{ $labels.outcome }}" for 10 minutes; their energy goes to ml_phase="idle" instead of the workload.`,
    ),
    operational(
      'FootprintAgentUnderPressure',
      // The daemon's own budget (memoryLimit) rather than a fixed size: above this share of it, its memory guard refuses ingest.
      `(\n  process_resident_memory_bytes / footprint_memory_limit_bytes > ${RESIDENT_PRESSURE_RATIO}\n  or process_open_fds / process_max_fds > ${AGENT_PRESSURE_RATIO}\n  or nodejs_eventloop_lag_p99_seconds > ${AGENT_EVENT_LOOP_LAG_S}\n)\n${ON_FOOTPRINT}`,
      '10m',
      'footprint on {{ $labels.instance }} is short of memory, file descriptors or event-loop time',
      `For 10 minutes footprint on {{ $labels.instance }} has held over ${RESIDENT_PRESSURE_RATIO * 100}% of its memory budget (memoryLimit, so its memory guard refuses spans) or over ${AGENT_PRESSURE_RATIO * 100}% of its file descriptors, or its event loop has lagged over ${AGENT_EVENT_LOOP_LAG_S * 1000} ms at p99 (value {{ $value }}); it risks refused spans and connections or slow scrapes.`,
    ),
  ],
};

export const RULE_FILES: readonly RuleFile[] = [
  { file: 'footprint-recording.yaml', groups: [RATIOS, { name: 'footprint-dashboards', interval: INTERVAL, rules: DASHBOARD_RECORDINGS }] },
  { file: 'footprint-carbon-slo.yaml', groups: [TARGETS, BUDGET_BURN, EFFICIENCY] },
  { file: 'footprint-operational.yaml', groups: [OPERATIONAL] },
];
