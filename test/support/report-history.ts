// A synthetic month of footprint series with the truth kept beside it: the cumulative value of
// every counter at every sample, so tests can compute expected report numbers without PromQL.
// The world: three nodes (two GPU nodes in zone DE, one CPU node in FR), five workloads plus idle
// (a nightly 02:00-10:00 training run on days 8-19), a DE grid-intensity drop on day 21 and a
// midday solar dip, PUE 1.2, a flat EUR tariff and per-device embodied rates.
// Like the daemon, it also publishes hw_energy for a RAPL sub-zone nested in a package, but prices,
// attributes and adds to hw_host_energy only the host's devices: a report summing the sub-zone is caught.

export const HISTORY_START_SECONDS = 1_735_689_600; // 2025-01-01T00:00:00Z
const HISTORY_DAYS = 28;
export const SAMPLE_SECONDS = 900;
const SAMPLE_COUNT = (HISTORY_DAYS * 86_400) / SAMPLE_SECONDS + 1;
const PUE = 1.2;
const TARIFF_EUR_PER_KWH = 0.3;
const JOULES_PER_KWH = 3_600_000;
const DAY_SECONDS = 86_400;

export type Labels = Record<string, string>;

export interface GeneratedSeries {
  /** Prometheus series name, e.g. `hw_energy_joules_total`. */
  name: string;
  labels: Labels;
  /** One value per sample, cumulative for counters. */
  values: number[];
}

interface DeviceSpec {
  instance: string;
  zone: 'DE' | 'FR';
  hwId: string;
  hwType: 'gpu' | 'cpu' | 'memory';
  hwName: string;
  hwVendor: string;
  method: 'counter' | 'power' | 'model';
  idleWatts: number;
  busyWatts: number;
  embodiedGramsPerSecond: number;
  workload: WorkloadSpec;
}

interface WorkloadSpec {
  model: string;
  job: string;
  phase: string;
  namespace: string;
  pod: string;
  /** Fraction of each interval the workload keeps the device busy. */
  busyFraction: (tSeconds: number) => number;
  /** Requests per busy second, 0 for training. */
  requestsPerBusySecond: number;
  inputTokensPerRequest: number;
  outputTokensPerRequest: number;
}

const diurnal = (phaseHours: number, low: number, high: number) => (tSeconds: number) => {
  const dayAngle = (2 * Math.PI * ((tSeconds - HISTORY_START_SECONDS) / 3600 + phaseHours)) / 24;
  return low + ((high - low) * (1 + Math.sin(dayAngle))) / 2;
};

/** Busy 0.95 from `firstHour` to `lastHour` UTC (by the interval's start) on days [firstDay, lastDay): a nightly training run. */
const trainingRuns = (firstDay: number, lastDay: number, firstHour: number, lastHour: number) => (endSeconds: number) => {
  const startSeconds = endSeconds - SAMPLE_SECONDS - HISTORY_START_SECONDS;
  const day = Math.floor(startSeconds / DAY_SECONDS);
  const hour = (startSeconds % DAY_SECONDS) / 3600;
  return day >= firstDay && day < lastDay && hour >= firstHour && hour < lastHour ? 0.95 : 0;
};

const llama: Omit<WorkloadSpec, 'pod'> = {
  model: 'llama-3-8b',
  job: 'serve-llama',
  phase: 'inference',
  namespace: 'serving',
  busyFraction: diurnal(0, 0.2, 0.9),
  requestsPerBusySecond: 4,
  inputTokensPerRequest: 600,
  outputTokensPerRequest: 200,
};
const mistral: Omit<WorkloadSpec, 'pod'> = {
  model: 'mistral-7b',
  job: 'serve-mistral',
  phase: 'inference',
  namespace: 'serving',
  busyFraction: diurnal(6, 0.1, 0.6),
  requestsPerBusySecond: 5,
  inputTokensPerRequest: 400,
  outputTokensPerRequest: 150,
};
const resnet: Omit<WorkloadSpec, 'pod'> = {
  model: 'resnet50',
  job: 'train-resnet',
  phase: 'training',
  namespace: 'research',
  busyFraction: trainingRuns(8, 20, 2, 10),
  requestsPerBusySecond: 0,
  inputTokensPerRequest: 0,
  outputTokensPerRequest: 0,
};
const embedder: Omit<WorkloadSpec, 'pod'> = {
  model: 'bge-small',
  job: 'embed-docs',
  phase: 'inference',
  namespace: 'search',
  busyFraction: diurnal(12, 0.3, 0.5),
  requestsPerBusySecond: 20,
  inputTokensPerRequest: 256,
  outputTokensPerRequest: 0,
};

/** Node A's two GPUs are the same board: they differ in id and workload only. */
const NODE_A_H100 = {
  instance: 'gpu-node-a:9464',
  zone: 'DE',
  hwType: 'gpu',
  hwName: 'NVIDIA H100',
  hwVendor: 'nvidia',
  method: 'counter',
  idleWatts: 70,
  busyWatts: 650,
  embodiedGramsPerSecond: 0.05,
} as const;

/** Token and request counts belong to the model, so only one device per model carries them. */
const DEVICES: Array<DeviceSpec & { countsRequests: boolean }> = [
  { ...NODE_A_H100, hwId: 'GPU-a0', workload: { ...llama, pod: 'llama-0' }, countsRequests: true },
  { ...NODE_A_H100, hwId: 'GPU-a1', workload: { ...llama, pod: 'llama-1', busyFraction: diurnal(3, 0.1, 0.7) }, countsRequests: false },
  {
    instance: 'gpu-node-a:9464',
    zone: 'DE',
    hwId: 'rapl:package-0',
    hwType: 'cpu',
    hwName: 'AMD EPYC 9454',
    hwVendor: 'amd',
    method: 'counter',
    idleWatts: 90,
    busyWatts: 250,
    embodiedGramsPerSecond: 0.01,
    workload: { ...llama, pod: 'llama-0' },
    countsRequests: false,
  },
  {
    instance: 'gpu-node-b:9464',
    zone: 'DE',
    hwId: 'GPU-b0',
    hwType: 'gpu',
    hwName: 'NVIDIA L40S',
    hwVendor: 'nvidia',
    method: 'power',
    idleWatts: 40,
    busyWatts: 330,
    embodiedGramsPerSecond: 0.03,
    workload: { ...mistral, pod: 'mistral-0' },
    countsRequests: true,
  },
  {
    instance: 'gpu-node-b:9464',
    zone: 'DE',
    hwId: 'GPU-b1',
    hwType: 'gpu',
    hwName: 'NVIDIA L40S',
    hwVendor: 'nvidia',
    method: 'power',
    idleWatts: 40,
    busyWatts: 350,
    embodiedGramsPerSecond: 0.03,
    workload: { ...resnet, pod: 'resnet-train-0' },
    countsRequests: false,
  },
  {
    instance: 'gpu-node-b:9464',
    zone: 'DE',
    hwId: 'rapl:package-0',
    hwType: 'cpu',
    hwName: 'Intel Xeon 8480',
    hwVendor: 'intel',
    method: 'counter',
    idleWatts: 80,
    busyWatts: 200,
    embodiedGramsPerSecond: 0.01,
    workload: { ...mistral, pod: 'mistral-0' },
    countsRequests: false,
  },
  {
    instance: 'cpu-node-c:9464',
    zone: 'FR',
    hwId: 'cpu:0',
    hwType: 'cpu',
    hwName: 'Graviton3',
    hwVendor: 'arm',
    method: 'model',
    idleWatts: 30,
    busyWatts: 120,
    embodiedGramsPerSecond: 0.008,
    workload: { ...embedder, pod: 'embedder-0' },
    countsRequests: true,
  },
  {
    instance: 'cpu-node-c:9464',
    zone: 'FR',
    hwId: 'memory:0',
    hwType: 'memory',
    hwName: 'DDR5',
    hwVendor: 'generic',
    method: 'model',
    idleWatts: 10,
    busyWatts: 25,
    embodiedGramsPerSecond: 0.002,
    workload: { ...embedder, pod: 'embedder-0' },
    countsRequests: false,
  },
];

/** A RAPL `core` sub-zone: its joules are part of its package's, measured but never added again. */
const SUB_ZONES = [{ instance: 'gpu-node-a:9464', parentId: 'rapl:package-0', hwId: 'rapl:package-0:core', shareOfParent: 0.6 }];

/** Whether a series belongs to one of its host's devices (every device but the sub-zones). */
export function isHostDevice(labels: Labels): boolean {
  return !SUB_ZONES.some((zone) => zone.instance === labels.instance && zone.hwId === labels.hw_id);
}

const METHOD_TRUST = { model: 0, power: 1, counter: 2 } as const;

/** The host figure's method is its weakest contributor's, as the daemon publishes it. */
function weakestMethod(devices: readonly DeviceSpec[]): DeviceSpec['method'] {
  return devices.reduce<DeviceSpec['method']>((weakest, device) => (METHOD_TRUST[device.method] < METHOD_TRUST[weakest] ? device.method : weakest), 'counter');
}

/** Energy of the interval that ends at `endSeconds`. */
function intervalJoules(device: DeviceSpec, endSeconds: number): number {
  const busy = device.workload.busyFraction(endSeconds);
  return (device.idleWatts + (device.busyWatts - device.idleWatts) * busy) * SAMPLE_SECONDS;
}

/** DE's midday solar dip: intervals starting 12:00-16:00 UTC are this much cleaner. */
const DE_SOLAR_DIP_G_PER_KWH = 180;

/**
 * Grid intensity in gCO2e/kWh of the interval ending at `tSeconds`: DE drops from 420 to 260 on day 21
 * (inside the later fortnight), less the solar dip from 12:00 to 16:00 UTC; FR is flat.
 */
export function intensityGramsPerKwh(zone: 'DE' | 'FR', tSeconds: number): number {
  if (zone === 'FR') return 55;
  const base = tSeconds < HISTORY_START_SECONDS + 21 * DAY_SECONDS ? 420 : 260;
  const startHour = ((tSeconds - SAMPLE_SECONDS - HISTORY_START_SECONDS) % DAY_SECONDS) / 3600;
  return startHour >= 12 && startHour < 16 ? base - DE_SOLAR_DIP_G_PER_KWH : base;
}

export function sampleTimeSeconds(index: number): number {
  return HISTORY_START_SECONDS + index * SAMPLE_SECONDS;
}

/** Builds every series; an interval's values are computed at its end time, like a daemon tick. */
export function generateHistory(): GeneratedSeries[] {
  const series: GeneratedSeries[] = [];
  const counter = (name: string, labels: Labels) => {
    const created: GeneratedSeries = { name, labels, values: [0] };
    series.push(created);
    return (increment: number) => created.values.push(created.values[created.values.length - 1]! + increment);
  };

  for (const zone of ['DE', 'FR'] as const) {
    series.push({
      name: 'carbon_intensity_grams_per_kilowatt_hour',
      labels: { carbon_zone: zone, carbon_source: 'static', carbon_signal: 'average', instance: zone === 'DE' ? 'gpu-node-a:9464' : 'cpu-node-c:9464' },
      values: Array.from({ length: SAMPLE_COUNT }, (_, index) => intensityGramsPerKwh(zone, sampleTimeSeconds(index))),
    });
  }

  for (const device of DEVICES) {
    const hw = { hw_id: device.hwId, hw_type: device.hwType, instance: device.instance };
    const addHwEnergy = counter('hw_energy_joules_total', { ...hw, hw_name: device.hwName, hw_vendor: device.hwVendor, measurement_method: device.method });
    const addDeviceEmissions = {
      operational: counter('carbon_emissions_grams_total', { ...hw, carbon_scope: 'operational' }),
      embodied: counter('carbon_emissions_grams_total', { ...hw, carbon_scope: 'embodied' }),
    };
    const addDeviceCost = counter('energy_cost_total', { ...hw, currency: 'EUR', cost_kind: 'energy' });

    const work = device.workload;
    const workloadLabels = (model: string, job: string, phase: string, namespace: string, pod: string): Labels => ({
      ml_model: model,
      ml_job: job,
      ml_phase: phase,
      hw_id: device.hwId,
      hw_type: device.hwType,
      k8s_namespace_name: namespace,
      k8s_pod_name: pod,
      instance: device.instance,
    });
    const attributions = [
      { share: (busy: number) => busy, labels: workloadLabels(work.model, work.job, work.phase, work.namespace, work.pod) },
      { share: (busy: number) => 1 - busy, labels: workloadLabels('', '', 'idle', '', '') },
    ].map(({ share, labels }) => ({
      share,
      addEnergy: counter('ml_energy_joules_total', labels),
      addOperational: counter('ml_emissions_grams_total', { ...labels, carbon_scope: 'operational' }),
      addEmbodied: counter('ml_emissions_grams_total', { ...labels, carbon_scope: 'embodied' }),
      addCost: counter('ml_cost_total', { ...labels, currency: 'EUR' }),
    }));
    const mlLabels = { ml_model: work.model, ml_job: work.job, ml_phase: work.phase, instance: device.instance };
    const addRequests = device.countsRequests ? counter('ml_requests_total', mlLabels) : undefined;
    const addInputTokens = device.countsRequests ? counter('ml_tokens_total', { ...mlLabels, gen_ai_token_type: 'input' }) : undefined;
    const addOutputTokens = device.countsRequests ? counter('ml_tokens_total', { ...mlLabels, gen_ai_token_type: 'output' }) : undefined;

    for (let index = 1; index < SAMPLE_COUNT; index++) {
      const endSeconds = sampleTimeSeconds(index);
      const busy = work.busyFraction(endSeconds);
      const energyJoules = intervalJoules(device, endSeconds);
      const kwh = energyJoules / JOULES_PER_KWH;
      const operationalGrams = kwh * PUE * intensityGramsPerKwh(device.zone, endSeconds);
      const embodiedGrams = device.embodiedGramsPerSecond * SAMPLE_SECONDS;
      const costEur = kwh * PUE * TARIFF_EUR_PER_KWH;
      addHwEnergy(energyJoules);
      addDeviceEmissions.operational(operationalGrams);
      addDeviceEmissions.embodied(embodiedGrams);
      addDeviceCost(costEur);
      for (const attribution of attributions) {
        const share = attribution.share(busy);
        attribution.addEnergy(energyJoules * share);
        attribution.addOperational(operationalGrams * share);
        attribution.addEmbodied(embodiedGrams * share);
        attribution.addCost(costEur * share);
      }
      const requests = Math.round(work.requestsPerBusySecond * busy * SAMPLE_SECONDS);
      addRequests?.(requests);
      addInputTokens?.(requests * work.inputTokensPerRequest);
      addOutputTokens?.(requests * work.outputTokensPerRequest);
    }
  }

  const everyInterval = (add: (increment: number) => void, joulesAt: (endSeconds: number) => number) => {
    for (let index = 1; index < SAMPLE_COUNT; index++) add(joulesAt(sampleTimeSeconds(index)));
  };
  for (const instance of new Set(DEVICES.map((device) => device.instance))) {
    const onHost = DEVICES.filter((device) => device.instance === instance);
    const addHostEnergy = counter('hw_host_energy_joules_total', { instance, measurement_method: weakestMethod(onHost) });
    everyInterval(addHostEnergy, (endSeconds) => onHost.reduce((total, device) => total + intervalJoules(device, endSeconds), 0));
  }
  for (const zone of SUB_ZONES) {
    const parent = DEVICES.find((device) => device.instance === zone.instance && device.hwId === zone.parentId)!;
    const addHwEnergy = counter('hw_energy_joules_total', {
      hw_id: zone.hwId,
      hw_type: parent.hwType,
      instance: zone.instance,
      hw_name: `${parent.hwName} core`,
      hw_vendor: parent.hwVendor,
      measurement_method: parent.method,
    });
    everyInterval(addHwEnergy, (endSeconds) => intervalJoules(parent, endSeconds) * zone.shareOfParent);
  }
  return series;
}

const COUNTER_SUFFIX = '_total';

/** OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`: one family at a time. */
export function toOpenMetrics(series: GeneratedSeries[]): string {
  const families = new Map<string, GeneratedSeries[]>();
  for (const one of series) families.set(one.name, [...(families.get(one.name) ?? []), one]);
  const lines: string[] = [];
  for (const [name, members] of families) {
    const isCounter = name.endsWith(COUNTER_SUFFIX);
    lines.push(`# TYPE ${isCounter ? name.slice(0, -COUNTER_SUFFIX.length) : name} ${isCounter ? 'counter' : 'gauge'}`);
    for (const member of members) {
      const labelText = Object.entries(member.labels)
        .map(([key, value]) => `${key}="${value}"`)
        .join(',');
      member.values.forEach((value, index) => {
        lines.push(`${name}{${labelText}} ${value} ${sampleTimeSeconds(index)}`);
      });
    }
  }
  lines.push('# EOF', '');
  return lines.join('\n');
}

/** Sum over matching counter series of their growth between two sample indexes. */
export function increaseBetween(series: GeneratedSeries[], name: string, match: (labels: Labels) => boolean, fromIndex: number, toIndex: number): number {
  return series.filter((one) => one.name === name && match(one.labels)).reduce((sum, one) => sum + (one.values[toIndex]! - one.values[fromIndex]!), 0);
}

export function sampleIndexAt(tSeconds: number): number {
  return (tSeconds - HISTORY_START_SECONDS) / SAMPLE_SECONDS;
}
