// The carbon SLO alerts as a Grafana alert-rule provisioning file, for teams that alert in Grafana
// rather than Prometheus. The queries are self-contained (default budget and objective inlined) so
// they work without footprint's recording rules; per-scope overrides are still honoured when the
// budget/objective recording rules exist in the data source.
import { BUDGET_SCOPES, BURN_WINDOWS, EFFICIENCY_FOR, burnRateExpr, efficiencyExpr, gramsPer1kTokensExpr, rawEmittedExpr, runbookUrl, seconds } from './slo.ts';

/** kube-prometheus-stack provisions its Prometheus data source with this uid; docs/alerts.md says how to change it. */
const PROMETHEUS_DATASOURCE_UID = 'prometheus';
const EXPRESSION_DATASOURCE_UID = '__expr__';

function promQuery(refId: string, expr: string, lookbackS: number) {
  return {
    refId,
    relativeTimeRange: { from: lookbackS, to: 0 },
    datasourceUid: PROMETHEUS_DATASOURCE_UID,
    model: { refId, expr, instant: true, range: false, intervalMs: 60_000, maxDataPoints: 43_200 },
  };
}

function expression(refId: string, model: Record<string, unknown>) {
  return { refId, relativeTimeRange: { from: 0, to: 0 }, datasourceUid: EXPRESSION_DATASOURCE_UID, model: { refId, ...model } };
}

function rule(
  uid: string,
  title: string,
  data: unknown[],
  extra: { for: string; labels: Record<string, string>; summary: string; description: string; alert: string },
) {
  return {
    uid,
    title,
    condition: 'C',
    data,
    // No emissions means no burn: an empty result is healthy, not an outage.
    noDataState: 'OK',
    execErrState: 'Error',
    for: extra.for,
    labels: extra.labels,
    annotations: { summary: extra.summary, description: extra.description, runbook_url: runbookUrl(extra.alert) },
    isPaused: false,
  };
}

const burnRules = BUDGET_SCOPES.flatMap((scope) =>
  BURN_WINDOWS.map((w) =>
    rule(
      `footprint-${scope.name}-burn-${w.long}-${w.short}`,
      `${scope.alert} ${w.long}/${w.short}`,
      [
        promQuery('A', burnRateExpr(scope, rawEmittedExpr(scope, w.long), 'literal'), seconds(w.long)),
        promQuery('B', burnRateExpr(scope, rawEmittedExpr(scope, w.short), 'literal'), seconds(w.short)),
        expression('C', { type: 'math', expression: `$A > ${w.factor} && $B > ${w.factor}` }),
      ],
      {
        alert: scope.alert,
        for: '0s',
        labels: { severity: w.severity, long_window: w.long, short_window: w.short },
        summary: `${scope.name} {{ $labels.${scope.label} }} is burning its carbon budget ${w.factor}x too fast`,
        description: `Over the last ${w.long} and ${w.short}, ${scope.name} "{{ $labels.${scope.label} }}" emitted CO2e faster than ${w.factor}x the rate its daily budget allows.`,
      },
    ),
  ),
);

const efficiencyRule = rule(
  'footprint-carbon-efficiency',
  'FootprintCarbonEfficiencyObjectiveMissed',
  [
    promQuery('A', efficiencyExpr(gramsPer1kTokensExpr('5m'), 'literal'), 300),
    expression('C', { type: 'threshold', expression: 'A', conditions: [{ evaluator: { type: 'gt', params: [1] } }] }),
  ],
  {
    alert: 'FootprintCarbonEfficiencyObjectiveMissed',
    for: EFFICIENCY_FOR,
    labels: { severity: 'ticket' },
    summary: 'model {{ $labels.ml_model }} emits more CO2e per 1k tokens than its objective',
    description: `For ${EFFICIENCY_FOR}, model "{{ $labels.ml_model }}" has emitted more gCO2e per 1k tokens than its objective.`,
  },
);

export const GRAFANA_ALERTING = {
  apiVersion: 1,
  groups: [
    { orgId: 1, name: 'footprint-carbon-budget', folder: 'footprint', interval: '1m', rules: burnRules },
    { orgId: 1, name: 'footprint-carbon-efficiency', folder: 'footprint', interval: '1m', rules: [efficiencyRule] },
  ],
};
