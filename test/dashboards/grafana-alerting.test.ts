// The Grafana-managed copy of the carbon SLO alerts: valid provisioning, internally consistent
// (conditions and math name existing refIds), and the same alerts, windows and severities as the
// Prometheus rules. That its queries parse is proven in test/dashboards/queries.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GRAFANA_ALERTING_FILE, readJson, ruleFiles } from './exprs.ts';

interface GrafanaRule {
  title: string;
  condition: string;
  labels: Record<string, string>;
  data: { refId: string; model: { expression?: string } }[];
}

const provisioning = parse(readFileSync(GRAFANA_ALERTING_FILE, 'utf8')) as { groups: { rules: GrafanaRule[] }[] };
const grafanaRules = provisioning.groups.flatMap((g) => g.rules);

describe('Grafana alert-rule provisioning (deploy/grafana/alerting/carbon-slo.yaml)', () => {
  it('validates against the provisioning schema', () => {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(readJson(join(import.meta.dirname, 'grafana-alerting.schema.json')));
    validate(provisioning);
    expect(validate.errors ?? []).toEqual([]);
  });

  it.each(grafanaRules.map((rule) => ({ rule, title: rule.title })))('$title: condition and math refer to its own queries', ({ rule }) => {
    const refIds = new Set(rule.data.map((d) => d.refId));
    expect(refIds.has(rule.condition)).toBe(true);
    for (const d of rule.data) {
      for (const [, ref] of (d.model.expression ?? '').matchAll(/\$([A-Z])\b/g)) expect(refIds.has(ref!)).toBe(true);
    }
  });

  it('carries the same carbon SLO alerts, windows and severities as the Prometheus rules', () => {
    const key = (name: string, labels: Record<string, string>) => `${name} ${labels.severity} ${labels.long_window ?? ''}/${labels.short_window ?? ''}`;
    const prometheus = ruleFiles()
      .filter((path) => path.endsWith('carbon-slo.yaml'))
      .flatMap((path) => (parse(readFileSync(path, 'utf8')) as { groups: { rules: { alert?: string; labels?: Record<string, string> }[] }[] }).groups)
      .flatMap((g) => g.rules.flatMap((r) => (r.alert ? [key(r.alert, r.labels!)] : [])));
    const grafana = grafanaRules.map((r) => key(r.title.split(' ')[0]!, r.labels));
    expect(grafana.sort()).toEqual(prometheus.sort());
  });
});
