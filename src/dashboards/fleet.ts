// Fleet carbon overview: what the whole fleet draws, emits and costs, where the intensity comes
// from, and who the emitters are.
import type { DashboardSpec } from './builder.ts';
import { forecastRow } from './forecast.ts';
import { CLUSTER, clusterVar, datasourceVar, sel } from './variables.ts';

/** The host's devices are the ones with attributed energy; nested sub-zones and sensors have none. */
const hostDeviceEnergy = `sum by (cluster, instance, hw_id) (increase(${sel('ml_energy_joules_total', CLUSTER)}[$__range]))`;

const topBy = (label: string) => `topk(10, sum by (${label}) (increase(${sel('ml_emissions_grams_total', CLUSTER, `${label}!=""`)}[$__range])))`;

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
          queries: [{ expr: `sum(${sel('hw_host_power_watts', CLUSTER)})` }],
        },
        {
          kind: 'stat',
          title: 'Energy',
          description: 'Whole-host energy of every node over the selected time range.',
          unit: 'kwatth',
          width: 4,
          queries: [{ expr: `sum(increase(${sel('hw_host_energy_joules_total', CLUSTER)}[$__range])) / 3.6e6` }],
        },
        {
          kind: 'stat',
          title: 'CO2e by scope',
          description: 'Operational (energy x PUE x grid intensity) and embodied (amortised manufacturing) CO2e over the range.',
          unit: 'massg',
          width: 6,
          queries: [{ expr: `sum by (carbon_scope) (increase(${sel('carbon_emissions_grams_total', CLUSTER)}[$__range]))`, legend: '{{carbon_scope}}' }],
        },
        {
          kind: 'stat',
          title: 'Cost',
          description: 'Energy and hardware cost over the range, in the currency configured on the daemons (USD by default).',
          unit: 'currencyUSD',
          width: 4,
          queries: [{ expr: `sum by (currency) (increase(${sel('energy_cost_total', CLUSTER)}[$__range]))`, legend: '{{currency}}' }],
        },
        {
          kind: 'stat',
          title: 'Measured share of energy',
          description:
            'Share of the hosts\' energy from hardware counters or power sensors rather than the load model (measurement_method != "model"), ' +
            'over the devices footprint attributes, so a sub-zone or sensor inside another device is not counted twice.',
          unit: 'percentunit',
          width: 6,
          queries: [
            {
              expr:
                `sum(${hostDeviceEnergy}\n  and on (cluster, instance, hw_id) last_over_time(${sel('hw_energy_joules_total', CLUSTER, 'measurement_method!="model"')}[$__range]))\n` +
                `  / sum(increase(${sel('ml_energy_joules_total', CLUSTER)}[$__range]))`,
            },
          ],
        },
      ],
    },
    {
      title: 'Over time',
      panels: [
        {
          kind: 'timeseries',
          title: 'Host power by node',
          description: 'Whole-host power of each node (psys where present, else the sum of non-overlapping zones and GPUs).',
          unit: 'watt',
          width: 12,
          stacked: true,
          queries: [{ expr: `sum by (instance) (${sel('hw_host_power_watts', CLUSTER)})`, legend: '{{instance}}' }],
        },
        {
          kind: 'timeseries',
          title: 'CO2e rate by scope',
          description: 'Grams of CO2e emitted per hour, operational and embodied.',
          unit: 'suffix:g/h',
          width: 12,
          stacked: true,
          queries: [
            { expr: `3600 * sum by (carbon_scope) (rate(${sel('carbon_emissions_grams_total', CLUSTER)}[$__rate_interval]))`, legend: '{{carbon_scope}}' },
          ],
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
              expr: `max by (carbon_zone, carbon_source, carbon_signal) (${sel('carbon_intensity_grams_per_kilowatt_hour', CLUSTER)})`,
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
              expr: `max by (carbon_zone, carbon_source) (${sel('footprint_carbon_intensity_age_seconds', CLUSTER)})`,
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
          queries: [{ expr: `sum(${sel('footprint_carbon_intensity_fallback', CLUSTER)})` }],
        },
      ],
    },
    forecastRow(CLUSTER),
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
