// Chart specs in vega-lite, compiled and rendered to SVG strings by vega's headless View,
// so report.html carries finished drawings and needs no script or network to show them.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { formatSpan } from './format.ts';
import type { ReportData, SeriesPoint } from './report-data.ts';

export interface Chart {
  id: string;
  title: string;
  svg: string;
}

const WIDTH = 640;
const HEIGHT = 220;
const FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif';

const BASE_CONFIG = {
  font: FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 11, gridColor: '#e5e7eb', domainColor: '#9ca3af' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom', columns: 4 },
  range: { category: { scheme: 'tableau10' } },
};

function timeSeriesSpec(points: SeriesPoint[], yTitle: string, mark: 'line' | 'area', interpolate: 'linear' | 'step-after' = 'linear'): TopLevelSpec {
  return {
    width: WIDTH,
    height: HEIGHT,
    config: BASE_CONFIG,
    data: { values: points },
    mark: mark === 'line' ? { type: 'line', interpolate, strokeWidth: 1.5 } : { type: 'area', interpolate, opacity: 0.85 },
    encoding: {
      x: { field: 'time', type: 'temporal', title: null, axis: { format: '%b %d', labelAngle: 0 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, stack: mark === 'area' ? 'zero' : null },
      color: { field: 'key', type: 'nominal', title: null },
    },
  } as TopLevelSpec;
}

function barSpec(rows: Array<{ label: string; value: number; tone?: string }>, xTitle: string, asPercent: boolean): TopLevelSpec {
  return {
    width: WIDTH - 160,
    height: { step: 22 },
    config: BASE_CONFIG,
    data: { values: rows },
    mark: { type: 'bar', cornerRadiusEnd: 2 },
    encoding: {
      y: { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelLimit: 200 } },
      x: {
        field: 'value',
        type: 'quantitative',
        title: xTitle,
        axis: asPercent ? { format: '.0%' } : { format: '~s' },
        scale: asPercent ? { domain: [0, 1] } : {},
      },
      color: rows.some((r) => r.tone)
        ? { field: 'tone', type: 'nominal', title: null, scale: { domain: ['measured', 'estimated'], range: ['#2563eb', '#f59e0b'] } }
        : { value: '#2563eb' },
    },
  } as TopLevelSpec;
}

/** Applied intensity per node (lines) with each training run drawn as a band over the hours it ran. */
function jobsOnIntensitySpec(data: ReportData): TopLevelSpec {
  return {
    width: WIDTH,
    height: HEIGHT,
    config: BASE_CONFIG,
    layer: [
      {
        data: { values: data.shiftable.runs },
        mark: { type: 'rect', opacity: 0.25 },
        encoding: {
          x: { field: 'start', type: 'temporal', title: null, axis: { format: '%b %d', labelAngle: 0 } },
          x2: { field: 'end' },
          color: { field: 'job', type: 'nominal', title: 'training run' },
        },
      },
      {
        data: { values: data.shiftable.intensityByNode },
        mark: { type: 'line', interpolate: 'step-before', strokeWidth: 1.2, color: '#111827' },
        encoding: {
          x: { field: 'time', type: 'temporal' },
          y: { field: 'value', type: 'quantitative', title: 'gCO2e/kWh applied (PUE incl.)' },
          detail: { field: 'key', type: 'nominal' },
        },
      },
    ],
  } as TopLevelSpec;
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The specs for one report, in reading order; a chart with no data is left out. */
function chartSpecs(data: ReportData): Array<{ id: string; title: string; spec: TopLevelSpec; empty: boolean }> {
  const { series } = data;
  const breakdownBars = (dimension: 'model' | 'job' | 'namespace') =>
    barSpec(
      data.breakdowns[dimension].map((row) => ({ label: row.key, value: row.emissionsGrams / 1000 })),
      'kgCO2e (operational + embodied)',
      false,
    );
  return [
    {
      id: 'power-by-node',
      title: 'Mean power per node',
      spec: timeSeriesSpec(series.powerWattsByNode, 'W', 'line'),
      empty: series.powerWattsByNode.length === 0,
    },
    {
      id: 'power-by-device-type',
      title: 'Mean power per device type (stacked)',
      spec: timeSeriesSpec(series.powerWattsByDeviceType, 'W', 'area'),
      empty: series.powerWattsByDeviceType.length === 0,
    },
    {
      id: 'emissions-by-group',
      title: `CO2e by ${data.groupBy} (stacked)`,
      spec: timeSeriesSpec(series.emissionsGramsByGroup, `gCO2e per ${formatSpan(data.window.stepSeconds)}`, 'area'),
      empty: series.emissionsGramsByGroup.length === 0,
    },
    { id: 'emissions-by-model', title: 'CO2e per model', spec: breakdownBars('model'), empty: data.breakdowns.model.length === 0 },
    { id: 'emissions-by-job', title: 'CO2e per job', spec: breakdownBars('job'), empty: data.breakdowns.job.length === 0 },
    { id: 'emissions-by-namespace', title: 'CO2e per namespace', spec: breakdownBars('namespace'), empty: data.breakdowns.namespace.length === 0 },
    {
      id: 'grams-per-1k-tokens',
      title: 'gCO2e per 1k tokens by model',
      spec: timeSeriesSpec(series.gramsPer1kTokensByModel, 'gCO2e / 1k tokens', 'line'),
      empty: series.gramsPer1kTokensByModel.length === 0,
    },
    {
      id: 'idle-share-nodes',
      title: 'Idle share of energy per node',
      spec: barSpec(
        data.idleShare.nodes.map((r) => ({ label: r.node, value: r.share })),
        'idle energy / total energy',
        true,
      ),
      empty: data.idleShare.nodes.length === 0,
    },
    {
      id: 'idle-share-gpus',
      title: 'Idle share of energy per GPU',
      spec: barSpec(
        data.idleShare.gpus.map((r) => ({ label: `${r.node} ${r.hwId ?? ''}`, value: r.share })),
        'idle energy / total energy',
        true,
      ),
      empty: data.idleShare.gpus.length === 0,
    },
    {
      id: 'measurement-method',
      title: 'Energy by measurement method',
      spec: barSpec(
        data.measurement.methods.map((m) => ({ label: m.method, value: m.share, tone: m.measured ? 'measured' : 'estimated' })),
        'share of energy',
        true,
      ),
      empty: data.measurement.methods.length === 0,
    },
    {
      id: 'grid-intensity',
      title: 'Grid carbon intensity per zone',
      spec: timeSeriesSpec(series.intensityByZone, 'gCO2e/kWh', 'line', 'step-after'),
      empty: series.intensityByZone.length === 0,
    },
    { id: 'shiftable-intensity', title: 'Training runs on the applied intensity', spec: jobsOnIntensitySpec(data), empty: data.shiftable.runs.length === 0 },
  ];
}

export async function renderCharts(data: ReportData): Promise<Map<string, Chart>> {
  const charts = new Map<string, Chart>();
  for (const { id, title, spec, empty } of chartSpecs(data)) {
    if (!empty) charts.set(id, { id, title, svg: await renderSvg(spec) });
  }
  return charts;
}
