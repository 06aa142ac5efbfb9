// Inference: one repeated row per model, so each model's carbon per token and per request sits
// next to its latency, cost and traffic. Models serve across nodes, so every panel reads the recorded
// per-model series (recordings.ts); the Node and device dashboard is where single nodes are.
import type { DashboardSpec, Query } from './builder.ts';
import { RECORDED, perSecond, sumOverRange } from './recordings.ts';
import { CLUSTER, MODEL, clusterVar, datasourceVar, modelVar, sel, tracesVar } from './variables.ts';

/** What a recorded per-minute increase of the selected model adds up to over `range`, summed by `by`. */
const total = (record: string, range = '$__rate_interval', by = '', ...matchers: string[]) =>
  `sum${by ? ` by (${by})` : ''} (${sumOverRange(sel(record, CLUSTER, MODEL, ...matchers), range)})`;
const LOCAL_REQUESTS = 'ml_phase!="remote"';
/** `scale x numerator / denominator`, blank rather than Inf while the denominator is zero. */
const per = (scale: string, numerator: string, denominator: string) => `${scale} * ${numerator}\n  / (${denominator} > 0)`;
const quantile = (q: number, buckets: string) => `histogram_quantile(${q}, ${total(buckets, '$__rate_interval', 'le')})`;
/** The median and the 95th percentile of a recorded histogram, as two series. */
const p50AndP95 = (buckets: string): Query[] => [
  { expr: quantile(0.5, buckets), legend: 'p50' },
  { expr: quantile(0.95, buckets), legend: 'p95' },
];
const tokens = (range?: string) => total(RECORDED.modelLocalTokens, range);

export const inference: DashboardSpec = {
  uid: 'footprint-inference',
  title: 'footprint / Inference',
  description: 'Per model: CO2e per 1k tokens and per request, energy per token, latency, cost per 1M tokens and traffic.',
  tags: ['footprint', 'carbon', 'inference'],
  variables: [datasourceVar, tracesVar, clusterVar, modelVar],
  rows: [
    {
      title: 'Model $model',
      repeat: 'model',
      panels: [
        {
          kind: 'timeseries',
          title: 'gCO2e per 1k tokens',
          description:
            'Attributed CO2e (operational + embodied) divided by tokens processed here (input + output), per 1000 tokens; tokens of remote calls (ml_phase="remote") use no local energy and are left out.',
          unit: 'massg',
          width: 6,
          queries: [{ expr: per('1000', total(RECORDED.workloadEmissions), tokens()), legend: 'gCO2e / 1k tokens' }],
        },
        {
          kind: 'timeseries',
          title: 'Request latency p50 / p95',
          description: 'Quantiles of request duration from the ml_request_duration_seconds histogram.',
          unit: 's',
          width: 6,
          queries: p50AndP95(RECORDED.modelDurationBuckets),
        },
        {
          kind: 'timeseries',
          title: 'Cost per 1M tokens',
          description: 'Attributed energy and hardware cost per million tokens, in the currency the daemons are configured with (USD by default).',
          unit: 'currencyUSD',
          width: 6,
          queries: [
            {
              expr: `1e6 * ${total(RECORDED.workloadCost, '$__rate_interval', 'currency')}\n  / on () group_left () (${tokens()} > 0)`,
              legend: '{{currency}} / 1M tokens',
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Requests per second',
          description:
            'Requests (spans) received for the model per second, by phase: remote ones are calls to a hosted API, counted but using no local energy.',
          unit: 'reqps',
          width: 6,
          queries: [{ expr: `sum by (ml_phase) (${perSecond(sel(RECORDED.modelRequests, CLUSTER, MODEL))})`, legend: '{{ml_phase}}' }],
        },
        {
          kind: 'stat',
          title: 'gCO2e per request',
          description: 'Attributed CO2e divided by the requests served here (not remote) over the selected range.',
          unit: 'massg',
          width: 6,
          height: 5,
          queries: [{ expr: per('1', total(RECORDED.workloadEmissions, '$__range'), total(RECORDED.modelRequests, '$__range', '', LOCAL_REQUESTS)) }],
        },
        {
          kind: 'stat',
          title: 'Energy per token',
          description: 'Attributed device energy divided by tokens processed here (not remote) over the selected range.',
          unit: 'joule',
          width: 6,
          height: 5,
          queries: [{ expr: per('1', total(RECORDED.workloadEnergy, '$__range'), tokens('$__range')) }],
        },
        {
          kind: 'timeseries',
          title: 'Energy per request p50 / p95',
          description:
            'Quantiles of the energy attributed to each request (ml_request_energy_joules histogram); the dots are exemplars, the costliest recent request of each bucket, linked to its trace in $traces.',
          unit: 'joule',
          width: 6,
          height: 5,
          // Exemplars live only on the raw histogram (a recording drops them): this panel reads it, for one model.
          queries: [0.5, 0.95].map((q) => ({
            expr: `histogram_quantile(${q}, sum by (le) (rate(${sel('ml_request_energy_joules_bucket', CLUSTER, MODEL)}[$__rate_interval])))`,
            legend: `p${q * 100}`,
          })),
          exemplarTraces: 'traces',
        },
        {
          kind: 'stat',
          title: 'Attributed power',
          description: 'Device power attributed to the model now (its attributed energy per second).',
          unit: 'watt',
          width: 6,
          height: 5,
          queries: [{ expr: `sum(${perSecond(sel(RECORDED.workloadEnergy, CLUSTER, MODEL))})` }],
        },
      ],
    },
  ],
};
