// The shipped rules compute every record from per-minute increases summed away from pods and devices
// (docs/architecture.md "How it scales"). This proves, with the real promtool, that each record still
// answers what the raw counters say: the same rate or ratio as `rate(raw[window])` over three days of
// per-minute data from several pods, devices, namespaces and models, with a counter reset and a workload
// that stops, at every window up to the 3d burn rate.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { BUDGET_SCOPES, BUDGET_SERIES, BURN_RATE_WINDOWS, burnRateExpr, burnRateRecord, rawEmittedExpr } from '../../src/dashboards/slo.ts';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { promtool } from '../support/promtool.ts';
import { ruleFiles } from './exprs.ts';

/** Three days and ten minutes of samples, one a minute; the records are compared at the last one. */
const EVAL_MINUTES = 3 * 1440 + 10;

interface Workload {
  pod: string;
  namespace: string;
  model: string;
  phase: string;
  device: string;
  /** Promtool expanding notation, one sample a minute from 0 to EVAL_MINUTES. */
  joules: string;
}

const WORKLOADS: Workload[] = [
  { pod: 'a-1', namespace: 'team-a', model: 'm1', phase: 'inference', device: 'gpu0', joules: `0+300x${EVAL_MINUTES}` },
  // A counter reset (the daemon restarted) two days in, then a higher draw.
  { pod: 'a-2', namespace: 'team-a', model: 'm2', phase: 'inference', device: 'gpu1', joules: `0+120x2880 0+450x${EVAL_MINUTES - 2881}` },
  // A workload that stops (its counter stays flat) for the last seven hours.
  {
    pod: 'b-1',
    namespace: 'team-b',
    model: 'm1',
    phase: 'training',
    device: 'gpu2',
    joules: `0+900x${EVAL_MINUTES - 420} ${900 * (EVAL_MINUTES - 420)}+0x419`,
  },
  // Start-up of a model: energy, no requests.
  { pod: 'b-2', namespace: 'team-b', model: 'm2', phase: 'load', device: 'gpu3', joules: `0+40x${EVAL_MINUTES}` },
  { pod: '', namespace: '', model: '', phase: 'idle', device: 'gpu0', joules: `0+60x${EVAL_MINUTES}` },
];

/** Scales a series' per-minute steps (grams per joule, cost per joule). */
const scaled = (values: string, factor: number) =>
  values.replace(/(\d+(?:\.\d+)?)\+(\d+(?:\.\d+)?)x/g, (_, start: string, step: string) => `${Number(start) * factor}+${Number(step) * factor}x`);

function workloadLabels(w: Workload, extra: string): string {
  return `{ml_model="${w.model}", ml_job="j", ml_phase="${w.phase}", hw_id="${w.device}", hw_type="gpu", k8s_namespace_name="${w.namespace}", k8s_pod_name="${w.pod}", ${extra}}`;
}

const INPUT_SERIES = [
  { series: `${BUDGET_SERIES}{budget_scope="namespace", k8s_namespace_name="team-a"}`, values: `86400+0x${EVAL_MINUTES}` },
  { series: `${BUDGET_SERIES}{budget_scope="model", ml_model="m1"}`, values: `200000+0x${EVAL_MINUTES}` },
  ...WORKLOADS.flatMap((w) => [
    { series: `ml_energy_joules_total${workloadLabels(w, 'measurement_method="counter"')}`, values: w.joules },
    { series: `ml_emissions_grams_total${workloadLabels(w, 'carbon_scope="operational"')}`, values: scaled(w.joules, 0.1) },
    { series: `ml_emissions_grams_total${workloadLabels(w, 'carbon_scope="embodied"')}`, values: scaled(w.joules, 0.02) },
    { series: `ml_cost_total${workloadLabels(w, 'currency="USD"')}`, values: scaled(w.joules, 0.0001) },
  ]),
  ...['m1', 'm2'].flatMap((model, index) => [
    {
      series: `ml_requests_total{ml_model="${model}", ml_job="j", ml_phase="inference", gen_ai_operation_name="chat"}`,
      values: `0+${3 + index}x${EVAL_MINUTES}`,
    },
    ...['input', 'output'].map((type) => ({
      series: `ml_tokens_total{ml_model="${model}", ml_job="j", ml_phase="inference", gen_ai_operation_name="chat", gen_ai_token_type="${type}"}`,
      values: `0+${(index + 1) * (type === 'input' ? 500 : 150)}x${EVAL_MINUTES}`,
    })),
    // A gateway's calls to a hosted API: counted, no local energy, so no ratio divides by them.
    { series: `ml_requests_total{ml_model="${model}", ml_job="j", ml_phase="remote", gen_ai_operation_name="chat"}`, values: `0+7x${EVAL_MINUTES}` },
    {
      series: `ml_tokens_total{ml_model="${model}", ml_job="j", ml_phase="remote", gen_ai_operation_name="chat", gen_ai_token_type="output"}`,
      values: `0+2000x${EVAL_MINUTES}`,
    },
  ]),
];

const LOCAL = 'ml_model!="", ml_phase!="remote"';
const rate5m = (selector: string, by: string) => `sum by (${by}) (rate(${selector}[5m]))`;
const namespaces = ['{k8s_namespace_name="team-a"}', '{k8s_namespace_name="team-b"}', '{}'];
const modelNamespaces = [
  '{ml_model="m1", k8s_namespace_name="team-a"}',
  '{ml_model="m2", k8s_namespace_name="team-a"}',
  '{ml_model="m1", k8s_namespace_name="team-b"}',
  '{ml_model="m2", k8s_namespace_name="team-b"}',
];
const models = ['{ml_model="m1"}', '{ml_model="m2"}'];
const withCurrency = (sets: string[]) => sets.map((set) => (set === '{}' ? '{currency="USD"}' : set.replace('}', ', currency="USD"}')));

/** Each record, what it means in raw counters, and the label sets the fixture gives it. */
const MEANINGS: { record: string; raw: string; labels: string[] }[] = [
  { record: 'namespace:ml_emissions_grams:rate5m', raw: rate5m('ml_emissions_grams_total', 'k8s_namespace_name'), labels: namespaces },
  { record: 'namespace:ml_energy_joules:rate5m', raw: rate5m('ml_energy_joules_total', 'k8s_namespace_name'), labels: namespaces },
  { record: 'namespace:ml_cost:rate5m', raw: rate5m('ml_cost_total', 'k8s_namespace_name, currency'), labels: withCurrency(namespaces) },
  {
    record: 'model_namespace:ml_emissions_grams:rate5m',
    raw: rate5m('ml_emissions_grams_total{ml_model!=""}', 'ml_model, k8s_namespace_name'),
    labels: modelNamespaces,
  },
  {
    record: 'model_namespace:ml_energy_joules:rate5m',
    raw: rate5m('ml_energy_joules_total{ml_model!=""}', 'ml_model, k8s_namespace_name'),
    labels: modelNamespaces,
  },
  {
    record: 'model:ml_emissions_grams_per_1k_tokens:ratio_rate5m',
    raw: `1000 * ${rate5m('ml_emissions_grams_total{ml_model!=""}', 'ml_model')} / ${rate5m(`ml_tokens_total{${LOCAL}}`, 'ml_model')}`,
    labels: models,
  },
  {
    record: 'model:ml_energy_joules_per_token:ratio_rate5m',
    raw: `${rate5m('ml_energy_joules_total{ml_model!=""}', 'ml_model')} / ${rate5m(`ml_tokens_total{${LOCAL}}`, 'ml_model')}`,
    labels: models,
  },
  {
    record: 'model:ml_cost_per_1m_tokens:ratio_rate5m',
    raw: `1e6 * ${rate5m('ml_cost_total{ml_model!=""}', 'ml_model, currency')} / on (ml_model) group_left () ${rate5m(`ml_tokens_total{${LOCAL}}`, 'ml_model')}`,
    labels: withCurrency(models),
  },
  {
    record: 'model:ml_emissions_grams_per_request:ratio_rate5m',
    raw: `${rate5m('ml_emissions_grams_total{ml_model!=""}', 'ml_model')} / ${rate5m(`ml_requests_total{${LOCAL}}`, 'ml_model')}`,
    labels: models,
  },
  ...BUDGET_SCOPES.flatMap((scope) =>
    BURN_RATE_WINDOWS.map((window) => ({
      record: burnRateRecord(scope, window),
      raw: burnRateExpr(scope, rawEmittedExpr(scope, window), 'recorded'),
      // team-b has no budget of its own (the default applies); only m1 has a model budget.
      labels: scope.name === 'namespace' ? namespaces.slice(0, 2) : models.slice(0, 1),
    })),
  ),
];

/** 1 for every label set where the record is within a part in a billion of the raw answer (float sums, not windows, differ). */
const equal = (record: string, raw: string) => `abs(${record} - (${raw})) <= bool 1e-9 * abs(${raw})`;

describe.skipIf(skipWithoutPromBinaries('promtool'))('recorded rules answer what the raw counters say', () => {
  const dir = mkdtempSync(join(tmpdir(), 'footprint-recorded-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every ratio and burn-rate record equals its raw-counter meaning on three days of fixture data', async () => {
    const testFile = join(dir, 'recorded-equals-raw.yaml');
    const evalTime = `${EVAL_MINUTES}m`;
    writeFileSync(
      testFile,
      stringify({
        rule_files: ruleFiles(),
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: INPUT_SERIES,
            promql_expr_test: [
              // The raw answers are not trivially equal: remote tokens and requests are left out, and the reset counts.
              {
                expr: 'model:ml_tokens:increase1m',
                eval_time: evalTime,
                exp_samples: [
                  { labels: 'model:ml_tokens:increase1m{ml_model="m1"}', value: 650 },
                  { labels: 'model:ml_tokens:increase1m{ml_model="m2"}', value: 1300 },
                ],
              },
              ...MEANINGS.map(({ record, raw, labels }) => ({
                expr: equal(record, raw),
                eval_time: evalTime,
                exp_samples: labels.map((set) => ({ labels: set, value: 1 })),
              })),
            ],
          },
        ],
      }),
    );
    const output = await promtool('test', 'rules', testFile);
    expect(output).toMatch(/SUCCESS/);
  }, 300_000);
});
