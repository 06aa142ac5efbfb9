// Inference: one repeated row per model, so each model's carbon per token and per request sits
// next to its latency, cost and traffic.
import type { DashboardSpec, Query } from './builder.ts';
import { CLUSTER, MODEL, NODE, clusterVar, datasourceVar, modelVar, nodeVar, sel, tracesVar } from './variables.ts';

const rate = (metric: string, range = '$__rate_interval') => `sum(rate(${sel(metric, CLUSTER, NODE, MODEL)}[${range}]))`;
/** `scale x numerator / denominator`, blank rather than Inf while the denominator is zero. */
const per = (scale: string, numerator: string, denominator: string, range?: string) =>
  `${scale} * ${rate(numerator, range)}\n  / (${rate(denominator, range)} > 0)`;
const quantile = (q: number, histogram: string) =>
  `histogram_quantile(${q}, sum by (le) (rate(${sel(`${histogram}_bucket`, CLUSTER, NODE, MODEL)}[$__rate_interval])))`;
/** The median and the 95th percentile of a histogram, as two series. */
const p50AndP95 = (histogram: string): Query[] => [
  { expr: quantile(0.5, histogram), legend: 'p50' },
  { expr: quantile(0.95, histogram), legend: 'p95' },
];

export const inference: DashboardSpec = {
  uid: 'footprint-inference',
  title: 'footprint / Inference',
  description: 'Per model: CO2e per 1k tokens and per request, energy per token, latency, cost per 1M tokens and traffic.',
  tags: ['footprint', 'carbon', 'inference'],
  variables: [datasourceVar, tracesVar, clusterVar, nodeVar, modelVar],
  rows: [
    {
      title: 'Model $model',
      repeat: 'model',
      panels: [
        {
          kind: 'timeseries',
          title: 'gCO2e per 1k tokens',
          description: 'Attributed CO2e (operational + embodied) divided by tokens processed (input + output), per 1000 tokens.',
          unit: 'massg',
          width: 6,
          queries: [{ expr: per('1000', 'ml_emissions_grams_total', 'ml_tokens_total'), legend: 'gCO2e / 1k tokens' }],
        },
        {
          kind: 'timeseries',
          title: 'Request latency p50 / p95',
          description: 'Quantiles of request duration from the ml_request_duration_seconds histogram.',
          unit: 's',
          width: 6,
          queries: p50AndP95('ml_request_duration_seconds'),
        },
        {
          kind: 'timeseries',
          title: 'Cost per 1M tokens',
          description: 'Attributed energy and hardware cost per million tokens, in the currency the daemons are configured with (USD by default).',
          unit: 'currencyUSD',
          width: 6,
          queries: [
            {
              expr: `1e6 * sum by (currency) (rate(${sel('ml_cost_total', CLUSTER, NODE, MODEL)}[$__rate_interval]))\n  / on () group_left () (${rate('ml_tokens_total')} > 0)`,
              legend: '{{currency}} / 1M tokens',
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Requests per second',
          description: 'Requests (spans) received for the model per second.',
          unit: 'reqps',
          width: 6,
          queries: [{ expr: rate('ml_requests_total'), legend: 'requests/s' }],
        },
        {
          kind: 'stat',
          title: 'gCO2e per request',
          description: 'Attributed CO2e divided by requests over the selected range.',
          unit: 'massg',
          width: 6,
          height: 5,
          queries: [{ expr: per('1', 'ml_emissions_grams_total', 'ml_requests_total', '$__range') }],
        },
        {
          kind: 'stat',
          title: 'Energy per token',
          description: 'Attributed device energy divided by tokens processed over the selected range.',
          unit: 'joule',
          width: 6,
          height: 5,
          queries: [{ expr: per('1', 'ml_energy_joules_total', 'ml_tokens_total', '$__range') }],
        },
        {
          kind: 'timeseries',
          title: 'Energy per request p50 / p95',
          description:
            'Quantiles of the energy attributed to each request (ml_request_energy_joules histogram); the dots are exemplars, the costliest recent request of each bucket, linked to its trace in $traces.',
          unit: 'joule',
          width: 6,
          height: 5,
          queries: p50AndP95('ml_request_energy_joules'),
          exemplarTraces: 'traces',
        },
        {
          kind: 'stat',
          title: 'Attributed power',
          description: 'Device power attributed to the model now (rate of ml_energy_joules_total).',
          unit: 'watt',
          width: 6,
          height: 5,
          queries: [{ expr: rate('ml_energy_joules_total') }],
        },
      ],
    },
  ],
};
