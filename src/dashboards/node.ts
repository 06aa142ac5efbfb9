// Node and device: what each device draws, whether it is healthy and how it is measured, and how
// much of the node's energy attribution could give to a workload.
import { queriesByLegend, type DashboardSpec } from './builder.ts';
import { CLUSTER, NODE, clusterVar, datasourceVar, nodeVar, sel } from './variables.ts';

const mlRate = (...extra: string[]) => `sum(rate(${sel('ml_energy_joules_total', CLUSTER, NODE, ...extra)}[$__rate_interval]))`;
/** A process series of footprint itself: other exporters on the node publish the same names. */
const agent = (name: string) => `${sel(name, CLUSTER, NODE)}\n  and on (instance) ${sel('footprint_sample_duration_seconds', CLUSTER, NODE)}`;
const mlIncrease = (...extra: string[]) => `sum(increase(${sel('ml_energy_joules_total', CLUSTER, NODE, ...extra)}[$__range]))`;

export const node: DashboardSpec = {
  uid: 'footprint-node',
  title: 'footprint / Node and device',
  description: 'Per-device power, energy, status, errors and measurement method; host power; attribution coverage.',
  tags: ['footprint', 'hardware'],
  variables: [datasourceVar, clusterVar, nodeVar],
  rows: [
    {
      title: 'Devices',
      panels: [
        {
          kind: 'timeseries',
          title: 'Device power',
          description:
            'Power of every measured device (GPU, CPU package, its sub-zones, memory domain, hwmon sensors); some contain others, so do not add them up: Host power is the total.',
          unit: 'watt',
          width: 12,
          queries: [{ expr: sel('hw_power_watts', CLUSTER, NODE), legend: '{{instance}} {{hw_name}} {{hw_id}} ({{measurement_method}})' }],
        },
        {
          kind: 'timeseries',
          title: 'Host power',
          description: 'Whole-host power: psys where present, else the sum of non-overlapping zones and GPUs; never a sum of overlapping zones.',
          unit: 'watt',
          width: 12,
          queries: [
            { expr: `sum by (instance, measurement_method) (${sel('hw_host_power_watts', CLUSTER, NODE)})`, legend: '{{instance}} ({{measurement_method}})' },
          ],
        },
        {
          kind: 'bargauge',
          title: 'Host device energy over the range',
          description:
            "Energy of each device that makes up the host over the selected range; together they are the host's energy. " +
            'Sub-zones and sensors inside these devices show in Device power only.',
          unit: 'kwatth',
          width: 8,
          queries: [
            // ml_energy exists only for the host's devices, so these bars never count a nested zone's joules twice.
            {
              expr: `sum by (instance, hw_type, hw_id) (increase(${sel('ml_energy_joules_total', CLUSTER, NODE)}[$__range])) / 3.6e6`,
              legend: '{{instance}} {{hw_type}} {{hw_id}}',
            },
          ],
        },
        {
          kind: 'table',
          title: 'Device status',
          description: 'Current state of each device from hw_status: ok, or failed (lost, vanished or unreadable; see the daemon log).',
          unit: 'none',
          width: 8,
          valueText: { '0': 'ok', '1': 'failed' },
          queries: [{ expr: `max by (instance, hw_id, hw_type) (${sel('hw_status', CLUSTER, NODE, 'hw_state="failed"')})` }],
        },
        {
          kind: 'table',
          title: 'Measurement method per device',
          description: 'How each device is measured: counter (hardware energy counter), power (integrated power samples) or model (estimated from load).',
          unit: 'none',
          width: 8,
          queries: [{ expr: `count by (instance, hw_id, hw_type, hw_name, hw_vendor, measurement_method) (${sel('hw_energy_joules_total', CLUSTER, NODE)})` }],
        },
        {
          kind: 'timeseries',
          title: 'Device read errors',
          description: 'Failed device reads per second by cause (error_type); a device keeps being retried while it errors.',
          unit: 'cps',
          width: 24,
          queries: [
            {
              expr: `sum by (instance, hw_id, error_type) (rate(${sel('hw_errors_total', CLUSTER, NODE)}[$__rate_interval]))`,
              legend: '{{instance}} {{hw_id}} {{error_type}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Attribution',
      panels: [
        {
          kind: 'timeseries',
          title: 'Attributed vs idle power',
          description: 'Device power the ledger gave to a workload versus to ml_phase="idle"; together they equal the devices\' power.',
          unit: 'watt',
          width: 12,
          stacked: true,
          queries: queriesByLegend(mlRate, { attributed: 'ml_phase!="idle"', idle: 'ml_phase="idle"' }),
        },
        {
          kind: 'stat',
          title: 'Attribution coverage',
          description: 'Share of device energy attributed to a workload (not idle) over the selected range.',
          unit: 'percentunit',
          width: 6,
          queries: [{ expr: `${mlIncrease('ml_phase!="idle"')}\n  / ${mlIncrease()}` }],
        },
        {
          kind: 'timeseries',
          title: 'Attributed power by model',
          description: 'Device power attributed to each model on the selected nodes.',
          unit: 'watt',
          width: 6,
          stacked: true,
          queries: [
            { expr: `sum by (ml_model) (rate(${sel('ml_energy_joules_total', CLUSTER, NODE, 'ml_model!=""')}[$__rate_interval]))`, legend: '{{ml_model}}' },
          ],
        },
      ],
    },
    {
      title: 'Agent',
      panels: [
        {
          kind: 'timeseries',
          title: 'Agent memory',
          description:
            "footprint's own resident memory and V8 heap in use, against its memory budget (memoryLimit): above 70% of it the daemon refuses spans with 429 and FootprintAgentUnderPressure fires after 10 minutes.",
          unit: 'bytes',
          width: 8,
          queries: queriesByLegend(agent, {
            '{{instance}} resident': 'process_resident_memory_bytes',
            '{{instance}} heap used': 'nodejs_heap_size_used_bytes',
            '{{instance}} budget': 'footprint_memory_limit_bytes',
          }),
        },
        {
          kind: 'timeseries',
          title: 'Agent file descriptors',
          description: 'Descriptors footprint holds (ingest and metrics connections, device files) against its limit; the connection caps keep it well under.',
          unit: 'none',
          width: 8,
          queries: queriesByLegend(agent, { '{{instance}} open': 'process_open_fds', '{{instance}} limit': 'process_max_fds' }),
        },
        {
          kind: 'timeseries',
          title: 'Agent event-loop delay p99',
          description: 'p99 of the event-loop delay between collections: how long a scrape or an ingest request may wait behind other work.',
          unit: 's',
          width: 8,
          queries: [{ expr: agent('nodejs_eventloop_lag_p99_seconds'), legend: '{{instance}}' }],
        },
      ],
    },
  ],
};
