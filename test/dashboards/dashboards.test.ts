// The committed dashboards: generated from src/dashboards, valid against the dashboard schema,
// readable without Grafana (title, description, unit on every panel), and reading only series the
// daemon or footprint's recording rules produce.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { renderAll } from '../../src/dashboards/render.ts';
import { allowedSeriesNames } from './contract.ts';
import { DASHBOARD_DIR, REPO_ROOT, dashboardExprs, dashboardFiles, grafanaAlertExprs, metricNames, readJson, recordedNames, ruleExprs } from './exprs.ts';

const schema = readJson(join(import.meta.dirname, 'dashboard.schema.json'));

describe('generated files', () => {
  it.each([...renderAll()].map(([path, text]) => ({ path, text })))('$path is what src/dashboards generates', ({ path, text }) => {
    expect(readFileSync(join(REPO_ROOT, path), 'utf8'), 'regenerate with: npx tsx src/dashboards/write.ts').toBe(text);
  });
});

describe('dashboards', () => {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

  it('are the four the issue asks for', () => {
    expect(dashboardFiles().sort()).toEqual(['fleet-carbon-overview.json', 'inference.json', 'node-and-device.json', 'training.json']);
  });

  it.each(dashboardFiles())('%s validates against the dashboard schema', (file) => {
    const ok = validate(readJson(join(DASHBOARD_DIR, file)));
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it.each(dashboardFiles())('%s: panels do not overlap and every $variable a query uses is defined', (file) => {
    const dashboard = readJson(join(DASHBOARD_DIR, file)) as {
      templating: { list: { name: string }[] };
      panels: { gridPos: { h: number; w: number; x: number; y: number }; targets?: { expr: string }[] }[];
    };
    const cells = new Set<string>();
    for (const { gridPos } of dashboard.panels) {
      for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++)
        for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
          expect(cells.has(`${x},${y}`), `cell ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
    const defined = new Set(dashboard.templating.list.map((v) => v.name));
    const used = dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\$(\w+)/g)].map((m) => m[1]!)));
    expect(used.filter((name) => !name.startsWith('__') && !defined.has(name))).toEqual([]);
  });

  it('the inference dashboard repeats one row per model', () => {
    const rows = (readJson(join(DASHBOARD_DIR, 'inference.json')) as { panels: { type: string; repeat?: string }[] }).panels.filter((p) => p.type === 'row');
    expect(rows.map((r) => r.repeat)).toEqual(['model']);
  });
});

describe('exemplars', () => {
  it('the inference energy-per-request panel draws exemplars and links each trace_id to its trace in $traces', () => {
    const dashboard = readJson(join(DASHBOARD_DIR, 'inference.json')) as {
      templating: { list: { name: string; type: string; query: unknown }[] };
      panels: { title: string; type: string; targets?: { exemplar?: boolean }[]; fieldConfig?: { overrides: unknown[] } }[];
    };
    expect(dashboard.templating.list.find(({ name }) => name === 'traces')).toMatchObject({ type: 'datasource', query: 'tempo' });
    const withExemplars = dashboard.panels.filter((panel) => panel.targets?.some((target) => target.exemplar));
    expect(withExemplars.map(({ title, type }) => [title, type])).toEqual([['Energy per request p50 / p95', 'timeseries']]);
    const [override] = withExemplars[0]!.fieldConfig!.overrides as { matcher: unknown; properties: { value: { url: string }[] }[] }[];
    expect(override!.matcher).toEqual({ id: 'byName', options: 'trace_id' });
    const url = override!.properties[0]!.value[0]!.url;
    // Grafana's variables, written as Grafana resolves them.
    const grafana = (name: string) => `\${${name}}`;
    expect(JSON.parse(url.slice('/explore?left='.length))).toMatchObject({ datasource: grafana('traces'), queries: [{ query: grafana('__value.raw') }] });
  });
});

describe('what panels read at fleet scale', () => {
  const recorded = recordedNames();
  /** Every `metric{matchers}` a panel selects that is not a footprint recording. */
  const rawSelectors = (expr: string) => [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)].filter(([, name]) => !recorded.has(name!));
  const panels = dashboardExprs().filter((e) => e.panelTitle !== undefined);

  it.each(['fleet-carbon-overview.json', 'inference.json'])('%s: every panel reads recorded series only, but exemplars the raw histogram', (file) => {
    // Exemplars live only on raw series: the energy-per-request panel reads ml_request_energy_joules_bucket for one model.
    const exemplarPanel = 'Energy per request p50 / p95';
    const raw = panels
      .filter((e) => e.dashboard === file && e.panelTitle !== exemplarPanel)
      .flatMap((e) => rawSelectors(e.expr).map(([selector]) => `${e.where}: ${selector}`));
    expect(raw).toEqual([]);
  });

  it.each(['training.json', 'node-and-device.json'])('%s: a panel reads raw series only filtered by node', (file) => {
    const unfiltered = panels
      .filter((e) => e.dashboard === file)
      .flatMap((e) =>
        rawSelectors(e.expr)
          .filter(([, , matchers]) => !matchers!.includes('instance=~"$node"'))
          .map(([selector]) => `${e.where}: ${selector}`),
      );
    expect(unfiltered).toEqual([]);
  });

  it('the node variable offers no "All", so node-scoped panels never select every node', () => {
    for (const file of ['training.json', 'node-and-device.json']) {
      const node = (readJson(join(DASHBOARD_DIR, file)) as { templating: { list: { name: string; includeAll?: boolean }[] } }).templating.list.find(
        (v) => v.name === 'node',
      );
      expect(node?.includeAll, file).toBe(false);
    }
  });
});

describe('metric names', () => {
  const allowed = allowedSeriesNames();
  it.each([...dashboardExprs(), ...ruleExprs(), ...grafanaAlertExprs()].map((e) => ({ ...e })))('$where reads only contract series', ({ expr }) => {
    const names = metricNames(expr);
    // Guards the extractor itself; only the default budget/objective constants read no series.
    if (!/^vector\(\d+\)$/.test(expr)) expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !allowed.has(name))).toEqual([]);
  });
});
