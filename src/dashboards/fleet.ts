// Fleet carbon overview: what the whole fleet draws, emits and costs, where the intensity comes
// from, and who the emitters are. Every panel reads the recorded fleet series (recordings.ts), never a
// node's raw series, so it answers as fast at 1,000 nodes as at 10.
import type { DashboardSpec } from './builder.ts';
import { RECORDED_FORECAST, forecastRow } from './forecast.ts';
import { RECORDED, perSecond, sumOverRange } from './recordings.ts';
import { CLUSTER, clusterVar, datasourceVar, sel } from './variables.ts';

/** A recorded per-minute increase of the selected clusters, added up over the dashboard's range. */
const overRange = (record: string, ...matchers: string[]) => sumOverRange(sel(record, CLUSTER, ...matchers), '$__range');

const topBy = (label: string) => `topk(10, sum by (${label}) (${overRange(RECORDED.workloadEmissions, `${label}!=""`)}))`;

export const fleet: DashboardSpec = {
  uid: 'footprint-fleet',
  title: 'footprint / Fleet carbon overview',
  description: 'Power, energy, CO2e and cost of every node running footprint, grid intensity per zone and the top emitters.',
  tags: ['footprint', 'carbon'],
  variables: [datasourceVar, clusterVar],
  rows: [
    {
      title: 'Fleet totals',
      panels: [
        {
          kind: 'stat',
          title: 'Power now',
          description: 'Sum of whole-host power (hw_host_power_watts) over every node.',
          unit: 'watt',
          width: 4,
          queries: [{ expr: `sum(${sel(RECORDED.hostPower, CLUSTER)})` }],
        },
        {
          kind: 'stat',
          title: 'Energy',
          description: 'Whole-host energy of every node over the selected time range.',
          unit: 'kwatth',
          width: 4,
          queries: [{ expr: `sum(${overRange(RECORDED.hostEnergy)}) / 3.6e6` }],
        },
        {
          kind: 'stat',
          title: 'CO2e by scope',
          description: 'Operational (energy x PUE x grid intensity) and embodied (amortised manufacturing) CO2e over the range.',
          unit: 'massg',
          width: 6,
          queries: [{ expr: `sum by (carbon_scope) (${overRange(RECORDED.emissionsByScope)})`, legend: '{{carbon_scope}}' }],
        },
        {
          kind: 'stat',
          title: 'Cost',
          description: 'Energy and hardware cost over the range, in the currency configured on the daemons (USD by default).',
          unit: 'currencyUSD',
          width: 4,
          queries: [{ expr: `sum by (currency) (${overRange(RECORDED.costByCurrency)})`, legend: '{{currency}}' }],
        },
        {
          kind: 'stat',
          title: 'Measured share of energy',
          description:
            'Share of the hosts\' energy from hardware counters or power sensors rather than the load model (measurement_method != "model"), ' +
            'over the devices footprint attributes, so a sub-zone or sensor inside another device is not counted twice.',
          unit: 'percentunit',
          width: 6,
          queries: [{ expr: `sum(${overRange(RECORDED.measuredEnergy)})\n  / sum(${overRange(RECORDED.attributedEnergy)})` }],
        },
      ],
    },
    {
      title: 'Over time',
      panels: [
        {
          kind: 'timeseries',
          title: 'Host power by cluster',
          description:
            'Whole-host power of every node (psys where present, else the sum of non-overlapping zones and GPUs), per cluster; the Node and device dashboard shows each node.',
          unit: 'watt',
          width: 12,
          stacked: true,
          queries: [{ expr: `sum by (cluster) (${sel(RECORDED.hostPower, CLUSTER)})`, legend: '{{cluster}}' }],
        },
        {
          kind: 'timeseries',
          title: 'CO2e rate by scope',
          description: 'Grams of CO2e emitted per hour, operational and embodied.',
          unit: 'suffix:g/h',
          width: 12,
          stacked: true,
          queries: [{ expr: `3600 * sum by (carbon_scope) (${perSecond(sel(RECORDED.emissionsByScope, CLUSTER))})`, legend: '{{carbon_scope}}' }],
        },
        {
          kind: 'timeseries',
          title: 'Grid carbon intensity by zone and source',
          description:
            'Intensity in use per grid zone; the legend names the provider (static, file, electricitymaps, watttime) and signal (average or marginal).',
          unit: 'suffix:gCO2e/kWh',
          width: 12,
          queries: [
            {
              expr: `max by (carbon_zone, carbon_source, carbon_signal) (${sel(RECORDED.intensity, CLUSTER)})`,
              legend: '{{carbon_zone}} {{carbon_source}} ({{carbon_signal}})',
            },
          ],
        },
        {
          kind: 'timeseries',
          title: 'Intensity value age',
          description: 'Seconds since the intensity in use was fetched; beyond the configured max age the daemon falls back to the static table.',
          unit: 's',
          width: 6,
          queries: [
            {
              expr: `max by (carbon_zone, carbon_source) (${sel(RECORDED.intensityAge, CLUSTER)})`,
              legend: '{{carbon_zone}} {{carbon_source}}',
            },
          ],
        },
        {
          kind: 'stat',
          title: 'Daemons on static fallback',
          description: 'Daemons whose live intensity provider failed and now use the bundled static annual average.',
          unit: 'none',
          width: 6,
          queries: [{ expr: `sum(${sel(RECORDED.intensityFallbacks, CLUSTER)})` }],
        },
      ],
    },
    forecastRow(RECORDED_FORECAST, CLUSTER),
    {
      title: 'Top emitters over the range',
      panels: [
        {
          kind: 'bargauge',
          title: 'Top models by CO2e',
          description: 'The ten models with the most attributed CO2e (all scopes) over the range.',
          unit: 'massg',
          width: 8,
          queries: [{ expr: topBy('ml_model'), legend: '{{ml_model}}' }],
        },
        {
          kind: 'bargauge',
          title: 'Top ML jobs by CO2e',
          description: 'The ten jobs (ml_job) with the most attributed CO2e over the range.',
          unit: 'massg',
          width: 8,
          queries: [{ expr: topBy('ml_job'), legend: '{{ml_job}}' }],
        },
        {
          kind: 'bargauge',
          title: 'Top namespaces by CO2e',
          description: 'The ten Kubernetes namespaces with the most attributed CO2e over the range.',
          unit: 'massg',
          width: 8,
          queries: [{ expr: topBy('k8s_namespace_name'), legend: '{{k8s_namespace_name}}' }],
        },
      ],
    },
  ],
};
