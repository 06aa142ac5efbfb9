// Carbon SLO parameters and the PromQL that both the Prometheus rules and the Grafana-managed
// alert rules are built from, so the two alerting paths cannot drift apart.

/** Budget (grams CO2e per day) per scope. Overrides are extra recording rules of this name; see docs/alerts.md. */
export const BUDGET_SERIES = 'footprint:carbon_budget_grams_per_day';
export const DEFAULT_NAMESPACE_BUDGET_GRAMS_PER_DAY = 50_000;
/** Objective for gCO2e per 1k tokens per model; overrides carry `ml_model`. */
export const OBJECTIVE_SERIES = 'footprint:carbon_objective_grams_per_1k_tokens';
export const DEFAULT_OBJECTIVE_GRAMS_PER_1K_TOKENS = 5;
/** How long the efficiency ratio must stay above objective before the alert fires. */
export const EFFICIENCY_FOR = '30m';

const SECONDS_PER_DAY = 86_400;

export interface BurnAlertWindow {
  severity: 'page' | 'ticket';
  long: string;
  short: string;
  factor: number;
}

/** The SRE workbook's multi-window, multi-burn-rate table (chapter 5, "Alerting on SLOs"). */
export const BURN_WINDOWS: readonly BurnAlertWindow[] = [
  { severity: 'page', long: '1h', short: '5m', factor: 14.4 },
  { severity: 'page', long: '6h', short: '30m', factor: 6 },
  { severity: 'ticket', long: '1d', short: '2h', factor: 3 },
  { severity: 'ticket', long: '3d', short: '6h', factor: 1 },
];

/** Every window a burn rate is recorded for. */
export const BURN_RATE_WINDOWS = [...new Set(BURN_WINDOWS.flatMap((w) => [w.short, w.long]))];

export interface BudgetScope {
  name: 'namespace' | 'model';
  label: 'k8s_namespace_name' | 'ml_model';
  alert: string;
  /** Whether a scope without its own budget falls back to the default budget. */
  hasDefault: boolean;
}

export const BUDGET_SCOPES: readonly BudgetScope[] = [
  { name: 'namespace', label: 'k8s_namespace_name', alert: 'FootprintNamespaceCarbonBudgetBurn', hasDefault: true },
  // Models have no default: a budget per model only makes sense where someone set one.
  { name: 'model', label: 'ml_model', alert: 'FootprintModelCarbonBudgetBurn', hasDefault: false },
];

export const burnRateRecord = (scope: BudgetScope, window: string) => `${scope.name}:footprint_carbon_budget_burn:ratio_rate${window}`;
export const EFFICIENCY_RECORD = 'model:footprint_carbon_efficiency_vs_objective:ratio_rate5m';
export const GRAMS_PER_1K_TOKENS_RECORD = 'model:ml_emissions_grams_per_1k_tokens:ratio_rate5m';

/** The default budget as a selector on the recording rule, or as a literal for rule engines without it. */
function defaultBudget(source: 'recorded' | 'literal'): string {
  return source === 'recorded' ? `${BUDGET_SERIES}{budget_scope="namespace", k8s_namespace_name=""}` : `vector(${DEFAULT_NAMESPACE_BUDGET_GRAMS_PER_DAY})`;
}

function defaultObjective(source: 'recorded' | 'literal'): string {
  return source === 'recorded' ? `${OBJECTIVE_SERIES}{ml_model=""}` : `vector(${DEFAULT_OBJECTIVE_GRAMS_PER_1K_TOKENS})`;
}

/** Seconds in a PromQL duration of one unit, e.g. `3d`. */
export function seconds(duration: string): number {
  const unitSeconds: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
  return Number(duration.slice(0, -1)) * unitSeconds[duration.slice(-1)]!;
}

/** Grams per second a scope emitted over `window`, straight from the raw counters (for rule engines without footprint's recordings). */
export const rawEmittedExpr = (scope: BudgetScope, window: string) => `sum by (${scope.label}) (rate(ml_emissions_grams_total{${scope.label}!=""}[${window}]))`;

/**
 * Burn rate: grams per second emitted (`emitted`, an expression by the scope's label) divided by the budget's
 * grams per second. 1 means the scope emits exactly its daily budget per day. Scopes with their own budget
 * use it; the others use the default (namespaces only).
 */
export function burnRateExpr(scope: BudgetScope, emitted: string, source: 'recorded' | 'literal'): string {
  const own = `${emitted}\n  / on (${scope.label}) group_left ()\n  (${BUDGET_SERIES}{budget_scope="${scope.name}", ${scope.label}!=""} / ${SECONDS_PER_DAY})`;
  if (!scope.hasDefault) return own;
  return `(\n  ${own}\n)\nor\n(\n  ${emitted}\n  / on () group_left ()\n  (${defaultBudget(source)} / ${SECONDS_PER_DAY})\n)`;
}

/**
 * Tokens and requests served here: `remote` ones (a gateway calling a hosted API) are counted but use no
 * local energy, so per-token and per-request carbon leaves them out of the denominator.
 */
export const LOCAL_WORK = 'ml_model!="", ml_phase!="remote"';

/** gCO2e per 1k tokens per model over `window` from the raw counters (every carbon scope, every phase of the model). */
export function gramsPer1kTokensExpr(window: string): string {
  return `1000 * sum by (ml_model) (rate(ml_emissions_grams_total{ml_model!=""}[${window}]))\n  / (sum by (ml_model) (rate(ml_tokens_total{${LOCAL_WORK}}[${window}])) > 0)`;
}

/** gCO2e per 1k tokens divided by the model's objective (its own, else the default): above 1 misses it. */
export function efficiencyExpr(ratio: string, source: 'recorded' | 'literal'): string {
  return `(\n  ${ratio}\n  / on (ml_model) group_left ()\n  ${OBJECTIVE_SERIES}{ml_model!=""}\n)\nor\n(\n  ${ratio}\n  / on () group_left ()\n  ${defaultObjective(source)}\n)`;
}

/** Anchor of an alert's runbook section in docs/alerts.md. */
export const runbookUrl = (alert: string) => `docs/alerts.md#${alert.toLowerCase()}`;
