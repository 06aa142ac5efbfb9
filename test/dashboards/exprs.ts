// Every PromQL expression footprint ships (dashboard panels, template variables, Prometheus rules,
// Grafana-managed alert rules), read back from the committed files, plus the helpers that turn
// Grafana's templated queries into plain PromQL and list the metric names an expression reads.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const DASHBOARD_DIR = join(REPO_ROOT, 'deploy/grafana/dashboards');
const RULES_DIR = join(REPO_ROOT, 'deploy/prometheus/rules');
export const GRAFANA_ALERTING_FILE = join(REPO_ROOT, 'deploy/grafana/alerting/carbon-slo.yaml');

export interface ShippedExpr {
  /** Where it comes from, for failure messages: `inference.json: panel "Requests per second"`. */
  where: string;
  expr: string;
  /** Headline panels are checked for non-empty results against a running daemon. */
  panelTitle?: string;
  dashboard?: string;
  /** Grafana asks for one value (stat, table, bar gauge) rather than a series over the time range. */
  instant?: boolean;
}

interface DashboardJson {
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: { type: string; title: string; targets?: { expr: string; instant?: boolean }[] }[];
}

export const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
export const dashboardFiles = () => readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json'));
export const ruleFiles = () =>
  readdirSync(RULES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(RULES_DIR, f));

export function dashboardExprs(): ShippedExpr[] {
  return dashboardFiles().flatMap((file) => {
    const dashboard = readJson(join(DASHBOARD_DIR, file)) as DashboardJson;
    const variables = dashboard.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({ where: `${file}: variable ${v.name}`, expr: labelValuesAsQuery((v.query as { query: string }).query) }));
    const panels = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        where: `${file}: panel "${panel.title}"`,
        expr: target.expr,
        panelTitle: panel.title,
        dashboard: file,
        instant: target.instant,
      })),
    );
    return [...variables, ...panels];
  });
}

export function ruleExprs(): ShippedExpr[] {
  return ruleFiles().flatMap((path) =>
    (parse(readFileSync(path, 'utf8')) as { groups: { rules: { expr: string; record?: string; alert?: string }[] }[] }).groups.flatMap((group) =>
      group.rules.map((rule) => ({ where: `${path.slice(REPO_ROOT.length + 1)}: ${rule.record ?? rule.alert}`, expr: rule.expr })),
    ),
  );
}

export function grafanaAlertExprs(): ShippedExpr[] {
  const file = parse(readFileSync(GRAFANA_ALERTING_FILE, 'utf8')) as {
    groups: { rules: { title: string; data: { datasourceUid: string; model: { expr?: string } }[] }[] }[];
  };
  return file.groups.flatMap((group) =>
    group.rules.flatMap((rule) =>
      rule.data.filter((d) => d.model.expr !== undefined).map((d) => ({ where: `carbon-slo.yaml: ${rule.title}`, expr: d.model.expr! })),
    ),
  );
}

/** Names recorded by footprint's own recording rules (rules and Grafana alerts may read them). */
export function recordedNames(): Set<string> {
  const names = ruleFiles().flatMap((path) =>
    (parse(readFileSync(path, 'utf8')) as { groups: { rules: { record?: string }[] }[] }).groups.flatMap((g) =>
      g.rules.flatMap((r) => (r.record ? [r.record] : [])),
    ),
  );
  return new Set(names);
}

/** `label_values(selector, label)` (a Grafana variable query) as PromQL that reads the same series. */
function labelValuesAsQuery(query: string): string {
  const match = /^label_values\((.*),\s*(\w+)\)$/s.exec(query.trim());
  if (!match) throw new Error(`unsupported variable query: ${query}`);
  return `count by (${match[2]}) (${match[1]})`;
}

export interface Substitutions {
  /** Value of every `$variable`; a regex, since every filter uses `=~`. */
  variables: Record<string, string>;
  rateInterval: string;
  range: string;
}

/** What Grafana would send: template variables and its range/interval macros replaced. */
export function substitute(expr: string, values: Substitutions): string {
  return expr
    .replaceAll('$__rate_interval', values.rateInterval)
    .replaceAll('$__range', values.range)
    .replace(/\$(\w+)/g, (whole, name: string) => values.variables[name] ?? whole);
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'topk',
  'bottomk',
  'quantile',
  'stddev',
  'stdvar',
  'count_values',
  'group',
  'inf',
  'nan',
]);

/** Metric names an expression selects: identifiers outside strings, label matchers, ranges and grouping lists that are not calls or keywords. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (call || PROMQL_WORDS.has(name!.toLowerCase()) || /^\d/.test(name!)) continue;
    // Exponent of a number literal like 3.6e6.
    if (/^e\d+$/i.test(name!) && /[\d.]$/.test(stripped.slice(0, match.index))) continue;
    names.add(name!);
  }
  return [...names];
}
