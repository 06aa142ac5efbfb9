import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/telemetry/contract.ts';
import { StoreMetricProducer } from '../../src/telemetry/producer.ts';
import { OVERFLOW_ATTRIBUTES, SeriesStore } from '../../src/telemetry/series-store.ts';

const MIB = 2 ** 20;
const GRIN = '\u{1F600}';
/** A 128-byte label value (32 ASCII bytes, then 24 four-byte characters), distinct per index: the longest normalising keeps. */
const astral = (index: number, field: string) => `${field}${index}`.padEnd(32, '-').concat(GRIN.repeat(24));
const DEVICES = [
  { 'hw.id': 'GPU-0', 'hw.type': 'gpu' },
  { 'hw.id': 'rapl:package-0', 'hw.type': 'cpu' },
];

/** The store's series as the Prometheus exporter writes them (the serializer /metrics uses, without target_info). */
async function exposition(store: SeriesStore): Promise<string> {
  const { resourceMetrics } = await new StoreMetricProducer(store, 'prometheus', '0.0.0').collect();
  return new PrometheusSerializer(undefined, false, undefined, true, true).serialize(resourceMetrics);
}

/** Bytes of a metric's sample lines, but for its overflow series. */
const liveSeriesBytes = (text: string, metric: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith(metric) && !line.includes('otel_metric_overflow'))
    .reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);

describe('SeriesStore', () => {
  it('folds attribute sets past the cardinality limit into one overflow series and keeps memory bounded', () => {
    const overflowed: string[] = [];
    const store = new SeriesStore({
      idleTimeoutMs: 60_000,
      cardinalityLimit: 1000,
      cardinalityLimitBytes: MIB,
      onOverflow: (spec) => overflowed.push(spec.name),
    });
    for (let index = 0; index < 100_000; index++) store.add(METRICS.mlRequests, { 'ml.model': `model-${index}`, 'ml.phase': 'inference' }, 1, 0);
    const points = store.points(METRICS.mlRequests);
    expect(points).toHaveLength(1001);
    const overflow = points.find((point) => point.attributes === OVERFLOW_ATTRIBUTES)!;
    expect(overflow.value).toBe(99_000);
    expect(points.reduce((sum, point) => sum + point.value, 0)).toBe(100_000);
    // Counted once per folded set, not once per add, for the 10,000 sets last folded (10 x the limit).
    expect(overflowed).toHaveLength(99_000);
    for (let index = 90_000; index < 100_000; index++) store.add(METRICS.mlRequests, { 'ml.model': `model-${index}`, 'ml.phase': 'inference' }, 1, 0);
    expect(overflowed).toHaveLength(99_000);
    // Known series still count normally once the limit is reached.
    store.add(METRICS.mlRequests, { 'ml.model': 'model-7', 'ml.phase': 'inference' }, 1, 0);
    expect(store.points(METRICS.mlRequests).find((point) => point.attributes['ml.model'] === 'model-7')!.value).toBe(2);
  });

  it('keeps hw.id and hw.type on the overflow series, so per-device sums hold past the limit', () => {
    const overflowed: string[] = [];
    const store = new SeriesStore({
      idleTimeoutMs: 60_000,
      cardinalityLimit: 10,
      cardinalityLimitBytes: MIB,
      onOverflow: (spec) => overflowed.push(spec.name),
    });
    const devices = [
      { 'hw.id': 'GPU-0', 'hw.type': 'gpu' },
      { 'hw.id': 'rapl:package-0', 'hw.type': 'cpu' },
    ];
    // 60 models on each of two devices, each model's energy added twice (two ticks): 1 J per model per tick on the GPU, 2 J on the package.
    for (let tick = 0; tick < 2; tick++) {
      for (let model = 0; model < 60; model++) {
        devices.forEach((device, index) => {
          store.add(METRICS.mlEnergy, { 'ml.model': `model-${model}`, ...device }, index + 1, tick * 1000);
        });
      }
    }
    const points = store.points(METRICS.mlEnergy);
    const perDevice = (id: string) => points.filter((point) => point.attributes['hw.id'] === id).reduce((sum, point) => sum + point.value, 0);
    expect([perDevice('GPU-0'), perDevice('rapl:package-0')]).toEqual([120, 240]);
    const overflows = points.filter((point) => point.attributes['otel.metric.overflow'] === 'true');
    expect(overflows.map((point) => point.attributes)).toEqual([
      { 'otel.metric.overflow': 'true', 'hw.id': 'GPU-0', 'hw.type': 'gpu' },
      { 'otel.metric.overflow': 'true', 'hw.id': 'rapl:package-0', 'hw.type': 'cpu' },
    ]);
    // 10 live sets (5 models on each device) and 110 folded sets, each counted once though added twice.
    expect(points).toHaveLength(12);
    expect(overflowed).toHaveLength(110);
  });

  it('expires idle workload series but never device series', () => {
    const store = new SeriesStore({ idleTimeoutMs: 1000, cardinalityLimit: 10, cardinalityLimitBytes: MIB });
    store.add(METRICS.mlEnergy, { 'ml.model': 'old' }, 5, 0);
    store.add(METRICS.mlEnergy, { 'ml.model': 'busy' }, 5, 0);
    store.set(METRICS.hwEnergy, { 'hw.id': 'rapl:package-0' }, 42, 0);
    store.add(METRICS.mlEnergy, { 'ml.model': 'busy' }, 5, 900);
    expect(store.expire(1500)).toBe(1);
    expect(store.points(METRICS.mlEnergy).map((point) => [point.attributes['ml.model'], point.value])).toEqual([['busy', 10]]);
    expect(store.points(METRICS.hwEnergy)).toHaveLength(1);
  });

  it('buckets histogram observations by the contract boundaries', () => {
    const store = new SeriesStore({ idleTimeoutMs: 1000, cardinalityLimit: 10, cardinalityLimitBytes: MIB });
    for (const seconds of [0.004, 0.3, 0.3, 200]) store.observe(METRICS.mlRequestDuration, { 'ml.model': 'm' }, seconds, 0);
    const histogram = store.points(METRICS.mlRequestDuration)[0]!.histogram!;
    expect(histogram.counts[0]).toBe(1);
    expect(histogram.counts[METRICS.mlRequestDuration.boundaries!.indexOf(0.5)]).toBe(2);
    expect(histogram.counts.at(-1)).toBe(1);
    expect([histogram.count, histogram.sum, histogram.min, histogram.max]).toEqual([4, 200.604, 0.004, 200]);
  });

  it('folds a new workload series past the byte limit of its metric into its device overflow series: the exposition stays within it, per-device sums hold', async () => {
    const overflowed: string[] = [];
    const limitBytes = 64 * 1024;
    const store = new SeriesStore({
      idleTimeoutMs: 60_000,
      cardinalityLimit: 2000,
      cardinalityLimitBytes: limitBytes,
      onOverflow: (spec) => overflowed.push(spec.name),
    });
    const fields = ['ml.model', 'ml.job', 'ml.phase', 'k8s.namespace.name', 'k8s.pod.name'];
    // 400 workloads, each on both devices, each add a third of a joule (a long double in the exposition), twice.
    for (let tick = 0; tick < 2; tick++)
      for (let workload = 0; workload < 400; workload++) {
        const labels = Object.fromEntries(fields.map((field) => [field, astral(workload, field)]));
        DEVICES.forEach((device, index) => {
          store.add(METRICS.mlEnergy, { ...labels, ...device }, (index + 1) / 3, tick * 1000);
          store.observe(METRICS.mlRequestEnergy, { 'ml.model': labels['ml.model'], 'ml.phase': labels['ml.phase'] }, 1 / 3, tick * 1000);
        });
      }
    const text = await exposition(store);
    // Counted bytes are an upper bound of what the exporter writes: each metric's live series fit its limit.
    for (const metric of ['ml_energy_joules_total{', 'ml_request_energy_joules_']) {
      expect(liveSeriesBytes(text, metric)).toBeLessThanOrEqual(limitBytes);
      expect(liveSeriesBytes(text, metric)).toBeGreaterThan(limitBytes * 0.75);
    }
    const points = store.points(METRICS.mlEnergy);
    const perDevice = (id: string) => points.filter((point) => point.attributes['hw.id'] === id).reduce((sum, point) => sum + point.value, 0);
    expect(perDevice('GPU-0')).toBeCloseTo((400 * 2 * 1) / 3, 9);
    expect(perDevice('rapl:package-0')).toBeCloseTo((400 * 2 * 2) / 3, 9);
    const overflows = points.filter((point) => point.attributes['otel.metric.overflow'] === 'true').map((point) => point.attributes);
    expect(overflows).toEqual(expect.arrayContaining(DEVICES.map((device) => ({ 'otel.metric.overflow': 'true', ...device }))));
    expect(overflows).toHaveLength(2);
    // Each folded set counted once though added twice: every (workload, device) set not kept live, every model not kept live.
    const liveEnergy = points.length - 2;
    const liveRequests = store.points(METRICS.mlRequestEnergy).filter((point) => point.attributes !== OVERFLOW_ATTRIBUTES).length;
    expect(overflowed.filter((name) => name === 'ml.energy')).toHaveLength(800 - liveEnergy);
    expect(overflowed.filter((name) => name === 'ml.request.energy')).toHaveLength(400 - liveRequests);
    // A live series keeps counting past the limit; device series are not under it.
    const first = Object.fromEntries(fields.map((field) => [field, astral(0, field)]));
    store.add(METRICS.mlEnergy, { ...first, ...DEVICES[0] }, 5, 2000);
    expect(store.points(METRICS.mlEnergy).find((point) => point.attributes['ml.model'] === first['ml.model'])!.value).toBeCloseTo(2 / 3 + 5, 9);
    store.set(METRICS.hwEnergy, { 'hw.id': 'GPU-0', 'hw.type': 'gpu', 'hw.name': astral(0, 'name') }, 1, 2000);
    expect(store.points(METRICS.hwEnergy)).toHaveLength(1);
  });

  it('gives an expired series its bytes back', () => {
    const store = new SeriesStore({ idleTimeoutMs: 1000, cardinalityLimit: 2000, cardinalityLimitBytes: 64 * 1024 });
    const fill = (prefix: string, nowMs: number) => {
      for (let index = 0; index < 400; index++) store.add(METRICS.mlEnergy, { 'ml.model': astral(index, prefix), ...DEVICES[0] }, 1, nowMs);
      return store.points(METRICS.mlEnergy).filter((point) => point.attributes['ml.model']?.startsWith(prefix)).length;
    };
    const keptFirst = fill('old', 0);
    expect(keptFirst).toBeLessThan(400);
    expect(fill('new', 500)).toBe(0);
    expect(store.expire(1600)).toBe(keptFirst + 1);
    expect(fill('new', 1700)).toBe(keptFirst);
  });

  it('remembers folded sets by a fixed-size hash: 20,000 sets of 800-byte keys hold under 3 MiB of heap, each counted once', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const overflowed: string[] = [];
    // A limit of 2000 remembers 20,000 folded sets; the 64 KiB limit folds all but the first few dozen.
    const store = new SeriesStore({
      idleTimeoutMs: 60_000,
      cardinalityLimit: 2000,
      cardinalityLimitBytes: 64 * 1024,
      onOverflow: (spec) => overflowed.push(spec.name),
    });
    const fields = ['ml.model', 'ml.job', 'ml.phase', 'k8s.namespace.name', 'k8s.pod.name'];
    const add = (index: number) =>
      store.add(METRICS.mlEnergy, { ...Object.fromEntries(fields.map((field) => [field, astral(index, field)])), ...DEVICES[0] }, 1, 0);
    for (let index = 0; index < 100; index++) add(index);
    const foldedFirst = overflowed.length;
    expect(foldedFirst).toBeGreaterThan(0);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let index = 100; index < 20_100; index++) add(index);
    gc();
    const heldBytes = process.memoryUsage().heapUsed - heapBefore;
    // The keys themselves would take 20,000 x 5 values x 80 UTF-16 code units x 2 bytes = 16 MB.
    expect(heldBytes).toBeLessThan(3 * MIB);
    expect(overflowed).toHaveLength(foldedFirst + 20_000);
    // Remembered: adding the last 19,000 again counts none; a set differing in one character is a new set.
    for (let index = 1100; index < 20_100; index++) add(index);
    expect(overflowed).toHaveLength(foldedFirst + 20_000);
    add(20_100);
    expect(overflowed).toHaveLength(foldedFirst + 20_001);
    const overflow = store.points(METRICS.mlEnergy).find((point) => point.attributes['otel.metric.overflow'] === 'true')!;
    expect(overflow.value).toBe(foldedFirst + 20_000 + 19_000 + 1);
  });
});
