// How many series one realistic node publishes (docs/architecture.md "How it scales"): the standard
// two-socket host, 8 GPUs through the NVML double, 30 pods serving 20 models whose spans come from
// real OpenTelemetry JS SDKs (one per pod, `k8s.pod.name` and `k8s.namespace.name` as resource
// attributes, as the OTel Operator's injection sets them), each span on its pod's GPU.
import { describe, expect, it, onTestFinished } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { ENERGY_LINES, GPUS, HOST_DEVICES, MODELS, PODS, boards, drawPower, sendPodSpans, seriesPerFamily } from '../support/realistic-node.ts';
import { daemonSuite } from '../support/suite.ts';
import { addStandardHost } from '../support/sysfs-fixture.ts';

/** Series a realistic node may expose by default (docs/architecture.md "How it scales"). */
const SERIES_BUDGET = 700;
/** ml_request_duration_seconds lines per model: its default bounds (config requestDurationBuckets), +Inf, _sum and _count. */
const DURATION_LINES = 5 + 3;

describe('series of a realistic node (8 GPUs, 2 packages, 30 pods, 20 models)', () => {
  const suite = daemonSuite({
    host: addStandardHost,
    nvml: boards(0),
    flags: { logLevel: 'warn', attributionLag: '3s', intensity: 400, pricePerKwh: 0.3 },
  });

  it('publishes one series per device, workload and device pair, and model', async () => {
    const { daemon, fixture, nvml } = suite;
    onTestFinished(drawPower(fixture, nvml!));
    // Spans must fall on measured time: wait until every host device's intervals reach the ledger and close.
    await eventually(
      async () => (seriesPerFamily(await daemon.scrape()).get('ml_energy_joules_total') === HOST_DEVICES ? true : undefined),
      20_000,
      'idle energy of every host device',
    );
    await sendPodSpans(daemon.ingestUrl);
    // Requests get their energy histogram when their last interval closes, a tick after ml_energy.
    const families = await eventually(
      async () => {
        const counted = seriesPerFamily(await daemon.scrape());
        return counted.get('ml_energy_joules_total') === PODS + HOST_DEVICES && counted.get('ml_request_energy_joules') === MODELS * ENERGY_LINES
          ? counted
          : undefined;
      },
      20_000,
      'every pod attributed',
    );
    const devices = HOST_DEVICES;
    const workloads = PODS + HOST_DEVICES; // each pod on its GPU, plus the idle series of every host device
    expect(Object.fromEntries(families)).toEqual({
      target_info: 1,
      hw_status: devices * 2, // hw_state ok and failed
      hw_energy_joules_total: devices,
      hw_power_watts: devices,
      hw_power_limit_watts: GPUS + 2, // GPUs and packages have limits, DRAM zones none
      hw_host_energy_joules_total: 1,
      hw_host_power_watts: 1,
      carbon_intensity_grams_per_kilowatt_hour: 1,
      footprint_carbon_intensity_age_seconds: 1,
      footprint_carbon_intensity_fallback: 1,
      footprint_ledger_pending_intervals: 1,
      footprint_sample_duration_seconds: 1,
      footprint_ingest_spans_total: 1,
      footprint_attribution_unsettled_energy_joules: devices,
      footprint_attribution_truncated_energy_joules_total: 1,
      carbon_forecast_intensity_grams_per_kilowatt_hour: 24, // 1h..24h
      carbon_forecast_best_start_seconds: 2, // 1 h and 8 h jobs
      carbon_forecast_best_intensity_grams_per_kilowatt_hour: 2,
      carbon_emissions_grams_total: devices * 2, // operational, embodied
      energy_cost_total: devices * 2, // energy, hardware
      ml_energy_joules_total: workloads,
      ml_emissions_grams_total: workloads * 2,
      ml_cost_total: workloads,
      ml_requests_total: MODELS,
      ml_tokens_total: MODELS * 2, // input, output
      ml_request_duration_seconds: MODELS * DURATION_LINES,
      ml_request_energy_joules: MODELS * ENERGY_LINES,
      // The agent's own health.
      process_cpu_seconds_total: 1,
      process_start_time_seconds: 1,
      footprint_memory_limit_bytes: 1,
      process_resident_memory_bytes: 1,
      process_virtual_memory_bytes: 1,
      process_heap_bytes: 1,
      process_open_fds: 1,
      process_max_fds: 1,
      nodejs_heap_size_used_bytes: 1,
      nodejs_heap_size_total_bytes: 1,
      nodejs_eventloop_lag_p99_seconds: 1,
    });
    // The figure docs/architecture.md quotes, within the budget of issue 21: pods are not series by default.
    const total = [...families.values()].reduce((sum, count) => sum + count, 0);
    expect(total).toBe(695);
    expect(total).toBeLessThanOrEqual(SERIES_BUDGET);
    expect(await daemon.scrape()).not.toMatch(/k8s_pod_name="[^"]/);
  });
});
