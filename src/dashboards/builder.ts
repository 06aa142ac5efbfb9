// A small dashboards-as-code builder for the subset of Grafana's dashboard model (schemaVersion 39)
// that footprint's dashboards use. Panels are laid out in reading order on the 24-column grid,
// so a dashboard file lists panels and widths, never coordinates.

/** Units Grafana understands; every panel must carry one so it reads right without this repository. */
type Unit =
  | 'watt'
  | 'bytes'
  | 'joule'
  | 'kwatth'
  | 'massg'
  | 'currencyUSD'
  | 'percentunit'
  | 's'
  | 'reqps'
  | 'cps'
  | 'none'
  | 'suffix:gCO2e/kWh'
  | 'suffix:g/h';

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's `$datasource` template variable, resolved by Grafana, not by JavaScript.
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

export interface Query {
  expr: string;
  /** Grafana legend template, e.g. `{{hw_id}}`. */
  legend?: string;
}

/** One query per legend, each the same expression builder applied to that legend's argument. */
export function queriesByLegend(expr: (argument: string) => string, argumentByLegend: Record<string, string>): Query[] {
  return Object.entries(argumentByLegend).map(([legend, argument]) => ({ expr: expr(argument), legend }));
}

type PanelKind = 'timeseries' | 'stat' | 'table' | 'bargauge';

interface PanelSpec {
  kind: PanelKind;
  title: string;
  /** One line that says what the number is and how it is computed. */
  description: string;
  unit: Unit;
  queries: Query[];
  /** Grid columns out of 24. */
  width: number;
  height?: number;
  /** timeseries only: stack the series (shares, composition). */
  stacked?: boolean;
  /** Value shown as text instead of a number (stat/table), e.g. 1 -> "failed". */
  valueText?: Record<string, string>;
  /**
   * timeseries only: draw the exemplars the scrape stored (OpenMetrics, `--enable-feature=exemplar-storage`),
   * each linked to its trace in the traces data source this variable names.
   */
  exemplarTraces?: string;
}

export interface RowSpec {
  title: string;
  /** Repeat the row (and its panels) once per value of this variable. */
  repeat?: string;
  panels: PanelSpec[];
}

export interface Variable {
  name: string;
  label: string;
  /** A `label_values(...)` query; absent for a datasource variable. */
  query?: string;
  /** A datasource variable's plugin type; `prometheus` when absent. */
  datasourceType?: string;
  multi: boolean;
  /** Offer "All" (default true); node variables do not, so node-scoped panels never read every node's raw series. */
  includeAll?: boolean;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  variables: Variable[];
  rows: RowSpec[];
}

/** Instant queries answer "now" or "over the dashboard range"; time series draw every step. */
const INSTANT_KINDS = new Set<PanelKind>(['stat', 'table', 'bargauge']);

function panelOptions(spec: PanelSpec): Record<string, unknown> {
  const reduceOptions = { calcs: ['lastNotNull'], fields: '', values: false };
  switch (spec.kind) {
    case 'timeseries':
      return {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      };
    case 'stat':
      return { reduceOptions, colorMode: 'value', graphMode: 'none', justifyMode: 'auto', orientation: 'auto', textMode: 'auto' };
    case 'bargauge':
      return { reduceOptions: { ...reduceOptions, values: true }, displayMode: 'gradient', orientation: 'horizontal', showUnfilled: true };
    case 'table':
      return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
  }
}

function fieldDefaults(spec: PanelSpec): Record<string, unknown> {
  const defaults: Record<string, unknown> = { unit: spec.unit, color: { mode: spec.kind === 'timeseries' ? 'palette-classic' : 'thresholds' } };
  if (spec.kind === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: spec.stacked ? 60 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: spec.stacked ? 'normal' : 'none', group: 'A' },
    };
  }
  if (spec.valueText) {
    defaults.mappings = [
      { type: 'value', options: Object.fromEntries(Object.entries(spec.valueText).map(([value, text], index) => [value, { text, index }])) },
    ];
  }
  defaults.thresholds = { mode: 'absolute', steps: [{ color: 'green', value: null }] };
  return defaults;
}

/**
 * The exemplar's `trace_id` opens its trace in Explore on the traces data source `$<variable>`: Tempo
 * and Jaeger both take a trace id as the query.
 */
function traceLinkOverride(variable: string): Record<string, unknown> {
  const pane = {
    datasource: `\${${variable}}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's `${__value.raw}` (the exemplar's trace id), resolved by Grafana, not by JavaScript.
    queries: [{ refId: 'A', queryType: 'traceql', query: '${__value.raw}' }],
    range: { from: 'now-1h', to: 'now' },
  };
  return {
    matcher: { id: 'byName', options: 'trace_id' },
    properties: [{ id: 'links', value: [{ title: 'Trace of this request (footprint.energy span)', url: `/explore?left=${JSON.stringify(pane)}` }] }],
  };
}

function panel(spec: PanelSpec, id: number, gridPos: GridPos): Record<string, unknown> {
  const instant = INSTANT_KINDS.has(spec.kind);
  return {
    id,
    type: spec.kind,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults: fieldDefaults(spec), overrides: spec.exemplarTraces ? [traceLinkOverride(spec.exemplarTraces)] : [] },
    options: panelOptions(spec),
    targets: spec.queries.map((query, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend ?? '__auto',
      range: !instant,
      instant,
      ...(spec.kind === 'table' ? { format: 'table' } : {}),
      ...(spec.exemplarTraces ? { exemplar: true } : {}),
    })),
  };
}

interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

function variable(v: Variable): Record<string, unknown> {
  if (!v.query) {
    return {
      type: 'datasource',
      name: v.name,
      label: v.label,
      query: v.datasourceType ?? 'prometheus',
      current: {},
      hide: 0,
      refresh: 1,
      regex: '',
      options: [],
    };
  }
  return {
    type: 'query',
    name: v.name,
    label: v.label,
    datasource: DATASOURCE,
    definition: v.query,
    query: { query: v.query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    // `.*` rather than Grafana's joined value list, so "All" also matches series without the
    // label (a single-cluster Prometheus has no `cluster` label at all).
    ...(v.includeAll === false
      ? { includeAll: false, multi: v.multi, current: {} }
      : { includeAll: true, allValue: '.*', multi: v.multi, current: { selected: true, text: ['All'], value: ['$__all'] } }),
    hide: 0,
    refresh: 2,
    regex: '',
    sort: 1,
    options: [],
  };
}

const DEFAULT_HEIGHT = 8;

/** The dashboard JSON Grafana imports or provisions. */
export function buildDashboard(spec: DashboardSpec): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
      ...(row.repeat ? { repeat: row.repeat } : {}),
    });
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const spec of row.panels) {
      if (x + spec.width > 24) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      const h = spec.height ?? DEFAULT_HEIGHT;
      panels.push(panel(spec, id++, { h, w: spec.width, x, y }));
      x += spec.width;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    refresh: '1m',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: [{ type: 'dashboards', tags: ['footprint'], title: 'footprint', asDropdown: true, includeVars: true, keepTime: true }],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: { list: spec.variables.map(variable) },
    panels,
  };
}
