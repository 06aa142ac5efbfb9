// The state behind every exported series: cumulative counters, gauges and histograms keyed by
// attribute set, with a cardinality limit per metric and expiry of idle workload series.
// The OTel JS SDK keeps every attribute set it ever saw; owning the state here lets a finished
// workload's series disappear from /metrics after the idle timeout.
import type { InstrumentSpec } from './contract.ts';

export type Attributes = Readonly<Record<string, string>>;

export interface HistogramValue {
  /** counts[i] holds observations <= boundaries[i]; the last entry is the +Inf bucket. */
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

export interface SeriesPoint {
  attributes: Attributes;
  startTimeMs: number;
  updatedMs: number;
  value: number;
  histogram?: HistogramValue;
}

export interface SeriesStoreOptions {
  idleTimeoutMs: number;
  cardinalityLimit: number;
  /** Told when an attribute set is folded into the overflow series. */
  onOverflow?: (spec: InstrumentSpec) => void;
}

/** The OpenTelemetry SDK's attribute for the series that collects attribute sets past the limit. */
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': 'true' });

export class SeriesStore {
  readonly #options: SeriesStoreOptions;
  readonly #series = new Map<InstrumentSpec, Map<string, SeriesPoint>>();

  constructor(options: SeriesStoreOptions) {
    this.#options = options;
  }

  /** Adds to a counter or up-down counter. */
  add(spec: InstrumentSpec, attributes: Record<string, string | undefined>, amount: number, nowMs: number): void {
    const point = this.#point(spec, attributes, nowMs);
    point.value += amount;
    point.updatedMs = nowMs;
  }

  /** Sets a gauge (or an up-down counter's current value). */
  set(spec: InstrumentSpec, attributes: Record<string, string | undefined>, value: number, nowMs: number): void {
    const point = this.#point(spec, attributes, nowMs);
    point.value = value;
    point.updatedMs = nowMs;
  }

  observe(spec: InstrumentSpec, attributes: Record<string, string | undefined>, value: number, nowMs: number): void {
    const point = this.#point(spec, attributes, nowMs);
    const boundaries = spec.boundaries ?? [];
    const histogram = (point.histogram ??= { counts: new Array(boundaries.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity });
    let bucket = boundaries.findIndex((bound) => value <= bound);
    if (bucket < 0) bucket = boundaries.length;
    histogram.counts[bucket]! += 1;
    histogram.sum += value;
    histogram.count += 1;
    histogram.min = Math.min(histogram.min, value);
    histogram.max = Math.max(histogram.max, value);
    point.updatedMs = nowMs;
  }

  /** Drops series of a metric that match, e.g. the gauges of a zone no longer in use. */
  remove(spec: InstrumentSpec, matches: (attributes: Attributes) => boolean): void {
    const series = this.#series.get(spec);
    if (!series) return;
    for (const [key, point] of series) if (matches(point.attributes)) series.delete(key);
  }

  /** Drops workload series not updated within the idle timeout. */
  expire(nowMs: number): number {
    let dropped = 0;
    for (const [spec, series] of this.#series) {
      if (!spec.expires) continue;
      for (const [key, point] of series) {
        if (nowMs - point.updatedMs > this.#options.idleTimeoutMs) {
          series.delete(key);
          dropped++;
        }
      }
    }
    return dropped;
  }

  snapshot(): Array<{ spec: InstrumentSpec; points: SeriesPoint[] }> {
    return [...this.#series].filter(([, series]) => series.size > 0).map(([spec, series]) => ({ spec, points: [...series.values()] }));
  }

  points(spec: InstrumentSpec): SeriesPoint[] {
    return [...(this.#series.get(spec)?.values() ?? [])];
  }

  #point(spec: InstrumentSpec, attributes: Record<string, string | undefined>, nowMs: number): SeriesPoint {
    let series = this.#series.get(spec);
    if (!series) this.#series.set(spec, (series = new Map()));
    const values = spec.attributes.map((name) => attributes[name] ?? '');
    const key = values.join('\u0000');
    const existing = series.get(key);
    if (existing) return existing;

    // The overflow series itself does not count against the limit.
    const overflowKey = '\u0001overflow';
    const live = series.size - (series.has(overflowKey) ? 1 : 0);
    if (live >= this.#options.cardinalityLimit) {
      this.#options.onOverflow?.(spec);
      let overflow = series.get(overflowKey);
      if (!overflow) series.set(overflowKey, (overflow = { attributes: OVERFLOW_ATTRIBUTES, startTimeMs: nowMs, updatedMs: nowMs, value: 0 }));
      return overflow;
    }
    const point: SeriesPoint = {
      attributes: Object.fromEntries(spec.attributes.map((name, index) => [name, values[index]!])),
      startTimeMs: nowMs,
      updatedMs: nowMs,
      value: 0,
    };
    series.set(key, point);
    return point;
  }
}
