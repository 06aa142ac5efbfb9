import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/telemetry/contract.ts';
import { OVERFLOW_ATTRIBUTES, SeriesStore } from '../../src/telemetry/series-store.ts';

describe('SeriesStore', () => {
  it('folds attribute sets past the cardinality limit into one overflow series and keeps memory bounded', () => {
    const overflowed: string[] = [];
    const store = new SeriesStore({ idleTimeoutMs: 60_000, cardinalityLimit: 1000, onOverflow: (spec) => overflowed.push(spec.name) });
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
    const store = new SeriesStore({ idleTimeoutMs: 60_000, cardinalityLimit: 10, onOverflow: (spec) => overflowed.push(spec.name) });
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
    const store = new SeriesStore({ idleTimeoutMs: 1000, cardinalityLimit: 10 });
    store.add(METRICS.mlEnergy, { 'ml.model': 'old' }, 5, 0);
    store.add(METRICS.mlEnergy, { 'ml.model': 'busy' }, 5, 0);
    store.set(METRICS.hwEnergy, { 'hw.id': 'rapl:package-0' }, 42, 0);
    store.add(METRICS.mlEnergy, { 'ml.model': 'busy' }, 5, 900);
    expect(store.expire(1500)).toBe(1);
    expect(store.points(METRICS.mlEnergy).map((point) => [point.attributes['ml.model'], point.value])).toEqual([['busy', 10]]);
    expect(store.points(METRICS.hwEnergy)).toHaveLength(1);
  });

  it('buckets histogram observations by the contract boundaries', () => {
    const store = new SeriesStore({ idleTimeoutMs: 1000, cardinalityLimit: 10 });
    for (const seconds of [0.004, 0.3, 0.3, 200]) store.observe(METRICS.mlRequestDuration, { 'ml.model': 'm' }, seconds, 0);
    const histogram = store.points(METRICS.mlRequestDuration)[0]!.histogram!;
    expect(histogram.counts[0]).toBe(1);
    expect(histogram.counts[METRICS.mlRequestDuration.boundaries!.indexOf(0.5)]).toBe(2);
    expect(histogram.counts.at(-1)).toBe(1);
    expect([histogram.count, histogram.sum, histogram.min, histogram.max]).toEqual([4, 200.604, 0.004, 200]);
  });
});
