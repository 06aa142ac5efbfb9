// Training: per ML job, energy and CO2e by phase over time, cumulative CO2e and cost, the job's
// GPUs against their power limit and how much of those devices' energy went to idle.
import { queriesByLegend, type DashboardSpec } from './builder.ts';
import { RAW_FORECAST, forecastRow } from './forecast.ts';
import { RECORDED, perSecond, sumOverRange } from './recordings.ts';
import { CLUSTER, JOB, NAMESPACE, NODE, clusterVar, datasourceVar, jobVar, namespaceVar, nodeVar, sel } from './variables.ts';

// Jobs span nodes: their energy, CO2e and cost come from the recorded per-job series (recordings.ts). Only
// the panels about the jobs' devices read raw series, filtered by node.

/** Series of the selected jobs; `ml_job!=""` keeps idle (which has no job) out when "All" is selected. */
const jobSel = (metric: string, ...extra: string[]) => sel(metric, CLUSTER, NODE, NAMESPACE, JOB, 'ml_job!=""', ...extra);
/** A recorded per-job series of the selected jobs. */
const jobRecord = (record: string) => sel(record, CLUSTER, NAMESPACE, JOB, 'ml_job!=""');

/** The devices the selected jobs drew energy from in the rate window, as a set to intersect with. */
const JOB_DEVICES = `(sum by (cluster, instance, hw_id) (rate(${jobSel('ml_energy_joules_total')}[$__rate_interval])) > 0)`;
const onJobDevices = (expr: string) => `${expr}\n  and on (cluster, instance, hw_id) ${JOB_DEVICES}`;
const gpu = (metric: string) => onJobDevices(`max by (cluster, instance, hw_id) (${sel(metric, CLUSTER, NODE, 'hw_type="gpu"')})`);
const deviceEnergyRate = (...extra: string[]) =>
  `sum(${onJobDevices(`sum by (cluster, instance, hw_id) (rate(${sel('ml_energy_joules_total', CLUSTER, NODE, ...extra)}[$__rate_interval]))`)})`;

export const training: DashboardSpec = {
  uid: 'footprint-training',
  title: 'footprint / Training',
  description: 'Per ML job: attributed energy and CO2e by phase, cumulative CO2e and cost, GPU power against limit, idle share.',
  tags: ['footprint', 'carbon', 'training'],
  variables: [datasourceVar, clusterVar, nodeVar, namespaceVar, jobVar],
  rows: [
    {
      title: 'Energy and CO2e by phase',
      panels: [
        {
          kind: 'timeseries',
          title: 'Attributed power by job and phase',
          description: 'Energy per second (W) attributed to each job, split by ml_phase (epoch, eval, checkpoint, ...).',
          unit: 'watt',
          width: 12,
          stacked: true,
          queries: [{ expr: `sum by (ml_job, ml_phase) (${perSecond(jobRecord(RECORDED.workloadEnergy))})`, legend: '{{ml_job}} {{ml_phase}}' }],
        },
        {
          kind: 'timeseries',
          title: 'CO2e rate by job and phase',
          description: 'Grams of CO2e per hour attributed to each job and phase (operational + embodied).',
          unit: 'suffix:g/h',
          width: 12,
          stacked: true,
          queries: [{ expr: `3600 * sum by (ml_job, ml_phase) (${perSecond(jobRecord(RECORDED.workloadEmissions))})`, legend: '{{ml_job}} {{ml_phase}}' }],
        },
        {
          kind: 'stat',
          title: 'Cumulative CO2e per job',
          description: 'CO2e attributed to each job over the selected range.',
          unit: 'massg',
          width: 8,
          queries: [{ expr: `sum by (ml_job) (${sumOverRange(jobRecord(RECORDED.workloadEmissions), '$__range')})`, legend: '{{ml_job}}' }],
        },
        {
          kind: 'stat',
          title: 'Cumulative cost per job',
          description: 'Energy and hardware cost attributed to each job over the range (daemon currency, USD by default).',
          unit: 'currencyUSD',
          width: 8,
          queries: [{ expr: `sum by (ml_job, currency) (${sumOverRange(jobRecord(RECORDED.workloadCost), '$__range')})`, legend: '{{ml_job}} {{currency}}' }],
        },
        {
          kind: 'stat',
          title: 'Cumulative energy per job',
          description: 'Device energy attributed to each job over the range.',
          unit: 'kwatth',
          width: 8,
          queries: [{ expr: `sum by (ml_job) (${sumOverRange(jobRecord(RECORDED.workloadEnergy), '$__range')}) / 3.6e6`, legend: '{{ml_job}}' }],
        },
      ],
    },
    {
      title: "The jobs' devices",
      panels: [
        {
          kind: 'timeseries',
          title: 'GPU power vs limit',
          description: 'Power of each GPU the selected jobs ran on, against its enforced power limit (hw_power_limit_watts).',
          unit: 'watt',
          width: 16,
          queries: queriesByLegend(gpu, { '{{instance}} {{hw_id}} power': 'hw_power_watts', '{{instance}} {{hw_id}} limit': 'hw_power_limit_watts' }),
        },
        {
          kind: 'timeseries',
          title: 'Idle share of the jobs’ devices',
          description: 'Share of the energy of the devices the jobs ran on that went to ml_phase="idle" (no workload active).',
          unit: 'percentunit',
          width: 8,
          queries: [{ expr: `${deviceEnergyRate('ml_phase="idle"')}\n  / ${deviceEnergyRate()}`, legend: 'idle share' }],
        },
      ],
    },
    forecastRow(RAW_FORECAST, CLUSTER, NODE),
  ],
};
