// The report as a list of sections (sentences, tables, chart ids). HTML and Markdown both render
// this one list, so the two documents cannot drift apart.
import { formatChange, formatCosts, formatNumber, formatPercent, formatSignificant, formatSpan } from './format.ts';
import type { BreakdownRow, Change, IdleRow, ReportData } from './report-data.ts';

export interface Table {
  caption?: string;
  headers: string[];
  rows: string[][];
  /** Columns from this index on hold numbers and are right-aligned. */
  numericFrom: number;
}

export interface Section {
  id: string;
  title: string;
  text: string[];
  tables: Table[];
  chartIds: string[];
}

export const METHODOLOGY_PATH = 'docs/methodology.md';
const REPORT_DOC_PATH = 'docs/report.md';

function changeRow(label: string, change: Change, scale: number, digits: number): string[] {
  return [label, formatNumber(change.current * scale, digits), formatNumber(change.previous * scale, digits), formatChange(change.changeRatio)];
}

function breakdownTable(caption: string, rows: BreakdownRow[]): Table {
  const totalGrams = rows.reduce((sum, row) => sum + row.emissionsGrams, 0);
  return {
    caption,
    headers: [caption.replace(/^CO2e per /, ''), 'kgCO2e', 'share', 'energy kWh', 'cost'],
    numericFrom: 1,
    rows: rows.map((row) => [
      row.restCount ? `(rest: ${row.restCount} more)` : row.key,
      formatNumber(row.emissionsGrams / 1000, 2),
      formatPercent(totalGrams > 0 ? row.emissionsGrams / totalGrams : null),
      formatNumber(row.energyKilowattHours, 1),
      formatCosts(row.cost),
    ]),
  };
}

function idleTable(caption: string, rows: IdleRow[], withDevice: boolean): Table {
  return {
    caption,
    headers: [...(withDevice ? ['node', 'GPU'] : ['node']), 'idle share', 'idle kWh', 'total kWh'],
    numericFrom: withDevice ? 2 : 1,
    rows: rows.map((row) => [
      row.node,
      ...(withDevice ? [row.hwId ?? ''] : []),
      formatPercent(row.share),
      formatNumber(row.idleKilowattHours, 1),
      formatNumber(row.totalKilowattHours, 1),
    ]),
  };
}

export function buildSections(data: ReportData): Section[] {
  const { totals, projection } = data;
  const step = formatSpan(data.window.stepSeconds);
  const currencies = Object.keys(totals.cost);
  const biggestIdle = data.idleShare.nodes[0];
  const sections: Section[] = [
    {
      id: 'totals',
      title: 'Totals',
      text: [
        `Window ${data.window.from} to ${data.window.to} (${formatSpan(data.window.lengthSeconds)}), compared with the previous window of the same length (${data.previousWindow.from} to ${data.previousWindow.to}).`,
        `Energy ${formatNumber(totals.energyKilowattHours.current, 1)} kWh (${formatChange(totals.energyKilowattHours.changeRatio)}), ` +
          `CO2e ${formatNumber(totals.emissionsGrams.total.current / 1000, 2)} kg (${formatChange(totals.emissionsGrams.total.changeRatio)}), ` +
          `cost ${formatCosts(Object.fromEntries(currencies.map((c) => [c, totals.cost[c]!.current])))}.`,
      ],
      tables: [
        {
          headers: ['', 'this window', 'previous window', 'change'],
          numericFrom: 1,
          rows: [
            changeRow('Energy (kWh)', totals.energyKilowattHours, 1, 1),
            changeRow('CO2e operational (kg)', totals.emissionsGrams.operational, 1 / 1000, 2),
            changeRow('CO2e embodied (kg)', totals.emissionsGrams.embodied, 1 / 1000, 2),
            changeRow('CO2e total (kg)', totals.emissionsGrams.total, 1 / 1000, 2),
            ...currencies.map((currency) => changeRow(`Cost (${currency})`, totals.cost[currency]!, 1, 2)),
            changeRow('Requests', totals.requests, 1, 0),
            changeRow('Tokens', totals.tokens, 1, 0),
          ],
        },
      ],
      chartIds: [],
    },
    {
      id: 'projection',
      title: 'Projection for the next window',
      text: [`Method: ${projection.method}. It assumes the recent load, grid intensity and tariff continue; it is a baseline, not a forecast.`],
      tables: [
        {
          headers: ['', 'projected', 'this window'],
          numericFrom: 1,
          rows: [
            ['Energy (kWh)', formatNumber(projection.energyKilowattHours, 1), formatNumber(totals.energyKilowattHours.current, 1)],
            ['CO2e total (kg)', formatNumber(projection.emissionsGrams.total / 1000, 2), formatNumber(totals.emissionsGrams.total.current / 1000, 2)],
            ...currencies.map((c) => [`Cost (${c})`, formatNumber(projection.cost[c], 2), formatNumber(totals.cost[c]!.current, 2)]),
          ],
        },
      ],
      chartIds: [],
    },
    {
      id: 'power',
      title: 'Power over time',
      text: [
        `Mean power over each ${step} step: per node from the rate of hw_host_energy_joules_total, per device type from the rate of ml_energy_joules_total (the host's devices, so a nested zone or sensor is not counted twice).`,
      ],
      tables: [],
      chartIds: ['power-by-node', 'power-by-device-type'],
    },
    {
      id: 'emissions',
      title: 'Where the CO2e went',
      text: [`Operational plus embodied CO2e attributed by footprint, top ${data.topN} and the rest. Idle energy is its own row: it belongs to no workload.`],
      tables: [
        breakdownTable('CO2e per model', data.breakdowns.model),
        breakdownTable('CO2e per job', data.breakdowns.job),
        breakdownTable('CO2e per namespace', data.breakdowns.namespace),
        breakdownTable('CO2e per node', data.breakdowns.node),
      ],
      chartIds: ['emissions-by-group', 'emissions-by-model', 'emissions-by-job', 'emissions-by-namespace'],
    },
    {
      id: 'efficiency',
      title: 'Per request and per 1k tokens',
      text: [
        'CO2e (operational + embodied, idle excluded) and cost per model divided by its requests and tokens (input + output); the change compares with the previous window.',
      ],
      tables: [
        {
          headers: ['model', 'requests', 'tokens', 'gCO2e / 1k tokens', 'change', 'gCO2e / request', 'cost / 1k tokens', 'cost / request'],
          numericFrom: 1,
          rows: data.perModel.map((m) => [
            m.model,
            formatNumber(m.requests, 0),
            formatNumber(m.tokens, 0),
            formatSignificant(m.gramsPer1kTokens),
            formatChange(m.gramsPer1kTokensChangeRatio),
            formatSignificant(m.gramsPerRequest),
            formatCosts(m.costPer1kTokens, formatSignificant),
            formatCosts(m.costPerRequest, formatSignificant),
          ]),
        },
      ],
      chartIds: ['grams-per-1k-tokens'],
    },
    {
      id: 'idle',
      title: 'Idle share',
      text: [
        'Energy spent with no workload on the device (ml_phase="idle") as a share of all energy: the capacity question.' +
          (biggestIdle ? ` Highest: ${biggestIdle.node} at ${formatPercent(biggestIdle.share)}.` : ''),
      ],
      tables: [idleTable('Per node', data.idleShare.nodes, false), idleTable('Per GPU', data.idleShare.gpus, true)],
      chartIds: ['idle-share-nodes', 'idle-share-gpus'],
    },
    {
      id: 'measurement',
      title: 'Measured vs estimated',
      text: [
        `${formatPercent(data.measurement.measuredShare)} of the host's energy comes from hardware (energy counters or integrated power); the rest is estimated from load (measurement_method="model") and is as good as its model.`,
      ],
      tables: [
        {
          headers: ['method', 'kind', 'kWh', 'share'],
          numericFrom: 2,
          rows: data.measurement.methods.map((m) => [
            m.method,
            m.measured ? 'measured' : 'estimated',
            formatNumber(m.kilowattHours, 1),
            formatPercent(m.share),
          ]),
        },
      ],
      chartIds: ['measurement-method'],
    },
    {
      id: 'intensity',
      title: 'Grid carbon intensity',
      text: [`Mean carbon_intensity_grams_per_kilowatt_hour over each ${step} step, per zone and signal.`],
      tables: [],
      chartIds: ['grid-intensity'],
    },
  ];
  const { shiftable } = data;
  sections.push({
    id: 'shiftable',
    title: 'Shiftable saving',
    text: [
      shiftable.jobs.length === 0
        ? 'No training job (ml_phase="training") ran in this window.'
        : `Had each training run started at the hour of its day with the least CO2e (same energy profile, same node, the intensity the daemon applied), ` +
          `operational CO2e would have been ${formatNumber(shiftable.totalSavingGrams / 1000, 3)} kg lower. ` +
          'A look back at what timing alone could have saved; `footprint plan` looks forward (docs/planning.md).',
    ],
    tables:
      shiftable.jobs.length === 0
        ? []
        : [
            {
              headers: ['job', 'days', 'kgCO2e as run', 'kgCO2e at best start', 'saving kg', 'saving'],
              numericFrom: 1,
              rows: shiftable.jobs.map((job) => [
                job.job,
                String(job.days),
                formatNumber(job.actualGrams / 1000, 3),
                formatNumber(job.bestGrams / 1000, 3),
                formatNumber(job.savingGrams / 1000, 3),
                formatPercent(job.actualGrams > 0 ? job.savingGrams / job.actualGrams : null),
              ]),
            },
          ],
    chartIds: ['shiftable-intensity'],
  });
  sections.push(costliestSection(data));
  if (data.missingMetrics.length > 0) {
    sections.push({
      id: 'missing',
      title: 'Missing data',
      text: [`No samples in this window for: ${data.missingMetrics.join(', ')}. Sections that need them are empty.`],
      tables: [],
      chartIds: [],
    });
  }
  return sections;
}

function costliestSection({ costliestRequests }: ReportData): Section {
  const { stored, requests } = costliestRequests;
  return {
    id: 'costliest-requests',
    title: 'Costliest requests',
    text: [
      stored
        ? `The ${requests.length} requests with the most energy that the window's exemplars link (each energy-per-request bucket keeps its costliest recent request); open a trace id in Tempo or Jaeger to see the request and its footprint.energy span.`
        : 'No exemplars in this window: scrape footprint with a Prometheus started with --enable-feature=exemplar-storage to list the costliest requests with their trace ids.',
    ],
    tables: stored
      ? [
          {
            headers: ['trace id', 'span id', 'model', 'operation', 'node', 'ended', 'J'],
            numericFrom: 6,
            rows: requests.map((request) => [
              request.traceId,
              request.spanId,
              request.model,
              request.operation,
              request.node,
              request.endedAt,
              formatSignificant(request.energyJoules),
            ]),
          },
        ]
      : [],
    chartIds: [],
  };
}

export function methodologyText(data: ReportData): string {
  return (
    `Totals are increase(metric[${formatSpan(data.window.lengthSeconds)}]) evaluated at the window end; chart points are per ${formatSpan(data.window.stepSeconds)} step. ` +
    `Formulas and coefficients: ${METHODOLOGY_PATH}; how this report queries Prometheus: ${REPORT_DOC_PATH}. ` +
    `Source: ${data.prometheusUrl}, generated ${data.generatedAt}.`
  );
}
