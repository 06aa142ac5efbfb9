// The metric contract, in one place (docs/architecture.md "The metric contract"). OTel names and units are what
// OTLP carries; `prometheusName` follows the OTel-to-Prometheus compatibility rules (unit suffix,
// `_total` added by the exporter for counters), so a scrape of the daemon and an OpenTelemetry
// Collector's Prometheus export give the same series names.

type InstrumentKind = 'counter' | 'gauge' | 'updowncounter' | 'histogram';

export interface InstrumentSpec {
  name: string;
  /** Base Prometheus name; the exporter appends `_total` to counters. */
  prometheusName: string;
  kind: InstrumentKind;
  unit: string;
  description: string;
  attributes: readonly string[];
  /** Series not updated for the idle timeout are dropped (workload series). */
  expires: boolean;
  /** Histogram bucket upper bounds. */
  boundaries?: readonly number[];
}

const DEVICE = ['hw.id', 'hw.type', 'hw.name', 'hw.vendor', 'measurement.method'] as const;
const WORKLOAD = ['ml.model', 'ml.job', 'ml.phase', 'hw.id', 'hw.type', 'k8s.namespace.name', 'k8s.pod.name'] as const;

function spec(
  name: string,
  prometheusName: string,
  kind: InstrumentKind,
  unit: string,
  description: string,
  attributes: readonly string[],
  extra: Partial<InstrumentSpec> = {},
): InstrumentSpec {
  return { name, prometheusName, kind, unit, description, attributes, expires: false, ...extra };
}

export const METRICS = {
  hwEnergy: spec('hw.energy', 'hw_energy_joules', 'counter', 'J', 'Energy consumed by the device since footprint started measuring it.', DEVICE),
  hwPower: spec('hw.power', 'hw_power_watts', 'gauge', 'W', 'Current power of the device.', DEVICE),
  hwPowerLimit: spec('hw.power.limit', 'hw_power_limit_watts', 'gauge', 'W', 'Power limit enforced on the device.', DEVICE),
  hostEnergy: spec(
    'hw.host.energy',
    'hw_host_energy_joules',
    'counter',
    'J',
    'Energy of the whole host: psys where present, else the sum of non-overlapping zones, plus discrete GPUs.',
    ['measurement.method'],
  ),
  hostPower: spec('hw.host.power', 'hw_host_power_watts', 'gauge', 'W', 'Power of the whole host, same composition as hw.host.energy.', ['measurement.method']),
  hwStatus: spec('hw.status', 'hw_status', 'updowncounter', '1', '1 for the device state that holds now (ok or failed), 0 otherwise.', [
    'hw.id',
    'hw.type',
    'hw.state',
  ]),
  hwErrors: spec('hw.errors', 'hw_errors', 'counter', '{error}', 'Failed reads of the device, by cause.', ['hw.id', 'hw.type', 'error.type']),
  carbonIntensity: spec('carbon.intensity', 'carbon_intensity_grams_per_kilowatt_hour', 'gauge', 'g/kWh', 'Grid carbon intensity in use for the zone.', [
    'carbon.zone',
    'carbon.source',
    'carbon.signal',
  ]),
  forecastIntensity: spec(
    'carbon.forecast.intensity',
    'carbon_forecast_intensity_grams_per_kilowatt_hour',
    'gauge',
    'g/kWh',
    'Forecast grid carbon intensity at an hourly offset from now (1h..24h), where the forecast reaches.',
    ['carbon.zone', 'carbon.source', 'carbon.signal', 'forecast.offset'],
  ),
  forecastBestStart: spec(
    'carbon.forecast.best_start',
    'carbon_forecast_best_start_seconds',
    'gauge',
    's',
    'Seconds from now to the start with the least CO2e in the next 24 h for a job of forecast.duration (0: now).',
    ['carbon.zone', 'carbon.source', 'forecast.duration'],
  ),
  forecastBestIntensity: spec(
    'carbon.forecast.best_intensity',
    'carbon_forecast_best_intensity_grams_per_kilowatt_hour',
    'gauge',
    'g/kWh',
    'Mean forecast intensity over the best window for a job of forecast.duration.',
    ['carbon.zone', 'carbon.source', 'forecast.duration'],
  ),
  carbonEmissions: spec(
    'carbon.emissions',
    'carbon_emissions_grams',
    'counter',
    'g',
    'CO2e of the device: operational (energy x PUE x intensity) and embodied (amortised manufacturing).',
    ['hw.id', 'hw.type', 'carbon.scope'],
  ),
  energyCost: spec('energy.cost', 'energy_cost', 'counter', '{currency}', 'Cost of the device: energy (kWh x PUE x tariff) and hardware (device-hour price).', [
    'hw.id',
    'hw.type',
    'currency',
    'cost.kind',
  ]),
  mlEnergy: spec(
    'ml.energy',
    'ml_energy_joules',
    'counter',
    'J',
    'Device energy attributed to the workload (ml.phase="idle" for time no workload used).',
    WORKLOAD,
    { expires: true },
  ),
  mlEmissions: spec('ml.emissions', 'ml_emissions_grams', 'counter', 'g', 'CO2e attributed to the workload.', [...WORKLOAD, 'carbon.scope'], { expires: true }),
  mlCost: spec('ml.cost', 'ml_cost', 'counter', '{currency}', 'Energy and hardware cost attributed to the workload.', [...WORKLOAD, 'currency'], {
    expires: true,
  }),
  mlRequests: spec(
    'ml.requests',
    'ml_requests',
    'counter',
    '{request}',
    'Requests (spans) received for the workload, by GenAI operation.',
    ['ml.model', 'ml.job', 'ml.phase', 'gen_ai.operation.name'],
    { expires: true },
  ),
  mlTokens: spec(
    'ml.tokens',
    'ml_tokens',
    'counter',
    '{token}',
    'Tokens processed by the workload, by direction and GenAI operation.',
    ['ml.model', 'ml.job', 'ml.phase', 'gen_ai.operation.name', 'gen_ai.token.type'],
    { expires: true },
  ),
  mlRequestDuration: spec(
    'ml.request.duration',
    'ml_request_duration_seconds',
    'histogram',
    's',
    'Duration of requests.',
    ['ml.model', 'ml.phase', 'gen_ai.operation.name'],
    {
      expires: true,
      boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    },
  ),
  mlRequestEnergy: spec(
    'ml.request.energy',
    'ml_request_energy_joules',
    'histogram',
    'J',
    'Energy attributed to each request.',
    ['ml.model', 'ml.phase', 'gen_ai.operation.name'],
    {
      expires: true,
      boundaries: [0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000],
    },
  ),
  // The daemon's own health.
  intensityAge: spec('footprint.carbon.intensity.age', 'footprint_carbon_intensity_age_seconds', 'gauge', 's', 'Age of the intensity value in use.', [
    'carbon.zone',
    'carbon.source',
  ]),
  intensityFallback: spec(
    'footprint.carbon.intensity.fallback',
    'footprint_carbon_intensity_fallback',
    'gauge',
    '1',
    '1 when a live intensity provider is configured but its fresh value is not in use (a last good value, or the static table).',
    ['carbon.zone', 'carbon.source'],
  ),
  ingestSpans: spec(
    'footprint.ingest.spans',
    'footprint_ingest_spans',
    'counter',
    '{span}',
    'Spans received over OTLP (/v1/traces and gRPC TraceService/Export), by outcome: accepted, truncated (part of its device time was already settled or taken by other workloads), spoofed (named another pod or its GPU; counted under the pod that sent it, Kubernetes mode), invalid, ignored (not an activity: nested or CLIENT spans), over_limit, throttled.',
    ['outcome'],
  ),
  ingestAdvisories: spec(
    'footprint.ingest.advisories',
    'footprint_ingest_advisories',
    'counter',
    '{span}',
    "Spans that tell their sender should change a setting, by server (a recognised inference server, or other) and advisory: sampled (the span's tracestate says its sender samples below 100%, so the energy of requests it did not send went to idle), unnamed_service (service.name is the SDK's default). `footprint doctor` reads it.",
    ['server', 'advisory'],
  ),
  ingestRefusals: spec(
    'footprint.ingest.refusals',
    'footprint_ingest_refusals',
    'counter',
    '{request}',
    'Exports refused with 429 (gRPC RESOURCE_EXHAUSTED) for the exporter to retry, by reason: memory (resident memory over 70% of memoryLimit, or the V8 old generation over 60% of its limit), queue (ingestQueueLimit spans waiting).',
    ['reason'],
  ),
  energySpansDropped: spec(
    'footprint.energy_spans.dropped',
    'footprint_energy_spans_dropped',
    'counter',
    '{span}',
    'footprint.energy spans not exported, by reason: queue_full (tracesQueueSize spans were waiting for the trace receiver), shutdown (still waiting when the daemon stopped).',
    ['reason'],
  ),
  unsettledEnergy: spec(
    'footprint.attribution.unsettled.energy',
    'footprint_attribution_unsettled_energy_joules',
    'gauge',
    'J',
    'Energy of a host device not yet in ml.energy: intervals waiting for the attribution lag plus idle time late spans may still claim until the attribution horizon.',
    ['hw.id', 'hw.type'],
  ),
  truncatedEnergy: spec(
    'footprint.attribution.truncated.energy',
    'footprint_attribution_truncated_energy_joules',
    'counter',
    'J',
    'Device energy in the time of spans that they could not claim: taken by other workloads before they arrived (time already settled past the horizon is counted in spans, not here).',
    [],
  ),
  ledgerPending: spec(
    'footprint.ledger.pending',
    'footprint_ledger_pending_intervals',
    'gauge',
    '{interval}',
    'Device intervals waiting for the attribution lag.',
    [],
  ),
  seriesOverflow: spec(
    'footprint.series.overflow',
    'footprint_series_overflow',
    'counter',
    '{series}',
    'Attribute sets folded into the overflow series because a metric reached its cardinality limit, or its byte limit (workload metrics).',
    ['metric'],
  ),
  memoryLimit: spec(
    'footprint.memory.limit',
    'footprint_memory_limit_bytes',
    'gauge',
    'By',
    'The memory the daemon keeps itself within (config memoryLimit); ingest is refused while resident memory is over 70% of it.',
    [],
  ),
  sampleDuration: spec(
    'footprint.sample.duration',
    'footprint_sample_duration_seconds',
    'gauge',
    's',
    'Time the last sample tick took to read every device.',
    [],
  ),
  // The process's own resources, under the names prom-client's default metrics use, so the usual
  // Node and process dashboards and alerts work unchanged (OTel names from the process and V8 semantic conventions).
  processCpu: spec('process.cpu.time', 'process_cpu_seconds', 'counter', 's', 'Total user and system CPU time spent in seconds.', []),
  processResident: spec('process.memory.usage', 'process_resident_memory_bytes', 'gauge', 'By', 'Resident memory size in bytes.', []),
  processVirtual: spec('process.memory.virtual', 'process_virtual_memory_bytes', 'gauge', 'By', 'Virtual memory size in bytes.', []),
  processHeap: spec('process.memory.data', 'process_heap_bytes', 'gauge', 'By', 'Process heap size in bytes.', []),
  processOpenFds: spec('process.unix.file_descriptor.count', 'process_open_fds', 'gauge', '{file_descriptor}', 'Number of open file descriptors.', []),
  processMaxFds: spec('process.unix.file_descriptor.limit', 'process_max_fds', 'gauge', '{file_descriptor}', 'Maximum number of open file descriptors.', []),
  processStartTime: spec('process.start_time', 'process_start_time_seconds', 'gauge', 's', 'Start time of the process since unix epoch in seconds.', []),
  eventLoopLagP99: spec(
    'nodejs.eventloop.delay.p99',
    'nodejs_eventloop_lag_p99_seconds',
    'gauge',
    's',
    'The 99th percentile of the recorded event loop delays since the last collection.',
    [],
  ),
  heapUsed: spec('v8js.memory.heap.used', 'nodejs_heap_size_used_bytes', 'gauge', 'By', 'Process heap size used from Node.js in bytes.', []),
  heapTotal: spec('v8js.memory.heap.limit', 'nodejs_heap_size_total_bytes', 'gauge', 'By', 'Process heap size from Node.js in bytes.', []),
} as const satisfies Record<string, InstrumentSpec>;

export const ALL_METRICS: readonly InstrumentSpec[] = Object.values(METRICS);

/** The Prometheus series names a scrape exposes for a spec (what dashboards and rules may reference). */
export function prometheusSeriesNames(spec: InstrumentSpec): string[] {
  if (spec.kind === 'counter') return [`${spec.prometheusName}_total`];
  if (spec.kind === 'histogram') return ['_bucket', '_sum', '_count'].map((suffix) => spec.prometheusName + suffix);
  return [spec.prometheusName];
}
