// The state behind every exported series: cumulative counters, gauges and histograms keyed by
// attribute set, with a cardinality limit per metric, a byte limit per workload metric (whose label
// values come from outside) and expiry of idle workload series.
// The OTel JS SDK keeps every attribute set it ever saw; owning the state here lets a finished
// workload's series disappear from /metrics after the idle timeout.
import { hash } from 'node:crypto';
import type { InstrumentSpec } from './contract.ts';

export type Attributes = Readonly<Record<string, string>>;

/** A request an observation came from: OpenMetrics writes it after its bucket, linking the bucket to the trace. */
export interface Exemplar {
  /** Lowercase hex, as W3C trace context writes them. */
  traceId: string;
  spanId: string;
  /** The observed value (a request's joules). */
  value: number;
  /** When the request ended. */
  timeMs: number;
}

/**
 * How long a bucket's exemplar is recent: within it a costlier request replaces it, past it any
 * request does. A minute covers a few scrapes at the usual 15 s, so each scrape links the costliest
 * request of about the last minute in every bucket.
 */
export const EXEMPLAR_RECENT_MS = 60_000;

interface HistogramValue {
  /** counts[i] holds observations <= boundaries[i]; the last entry is the +Inf bucket. */
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
  /** Per bucket, the costliest recent observation that came with an exemplar; absent until one does. */
  exemplars?: (Exemplar | undefined)[];
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
  /**
   * Exposition bytes, as exposedBytes counts them, the live series of one workload metric (one whose
   * series expire; their label values come from outside) may take; a new series past it folds into
   * the overflow series. Per metric, so a flood of request series leaves ml.energy its share.
   */
  cardinalityLimitBytes: number;
  /** Told once per attribute set folded into an overflow series (while the set is remembered, see foldedMemory). */
  onOverflow?: (spec: InstrumentSpec) => void;
}

/** The OpenTelemetry SDK's attribute for the series that collects attribute sets past the limit. */
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': 'true' });

/**
 * Attributes an overflow series keeps from the sets it folds, so sums per device still hold
 * (the energy of a device's workloads adds up to the device's energy) when a metric overflows.
 * There are a handful of devices per node, so these add at most one overflow series per device.
 */
const KEPT_ON_OVERFLOW = ['hw.id', 'hw.type'];
const OVERFLOW_KEY_PREFIX = '\u0001overflow';
/**
 * How many folded sets per metric are remembered, so each is counted once without unbounded memory:
 * ten times the limit, at least 10,000; past it the oldest are forgotten. Each is remembered by a
 * fixed-size hash of its key (about 90 bytes an entry however long its values), not by the key.
 */
const foldedMemory = (cardinalityLimit: number) => Math.max(10 * cardinalityLimit, 10_000);

/**
 * A folded set's key as a 48-bit number (a double holds it exactly): the first 6 bytes of its SHA-1
 * (about 1 µs, once per add to an overflow series). Two of 20,000 remembered sets share one with odds
 * of about 1 in 1.4 million; if they do, the second goes uncounted in footprint.series.overflow, its
 * values still added (no series is keyed by the hash).
 */
function foldedKeyHash(key: string): number {
  return hash('sha1', key, 'buffer').readUIntBE(0, 6);
}

/**
 * Bytes a line takes beyond the metric name and the series' labels, at most: a suffix (`_bucket`),
 * the braces, an `le="..."` label, a space, a double in its longest form
 * (-1.2345678901234567e-300, 24 bytes) and the newline.
 */
const LINE_OVERHEAD_BYTES = 56;
/** Characters the exposition escapes with a backslash, so each takes two bytes there. */
const ESCAPED = /["\\\n]/g;

/**
 * The bytes a series takes in the Prometheus exposition, at most: each of its lines (one, or a
 * histogram's buckets, sum and count) repeats its labels as `name="value",`, values as escaped UTF-8.
 */
function exposedBytes(spec: InstrumentSpec, values: readonly string[]): number {
  let labelBytes = 0;
  spec.attributes.forEach((name, index) => {
    const value = values[index]!;
    labelBytes += name.length + 4 + Buffer.byteLength(value) + (value.match(ESCAPED)?.length ?? 0);
  });
  const lines = spec.kind === 'histogram' ? (spec.boundaries?.length ?? 0) + 3 : 1;
  return lines * (spec.prometheusName.length + labelBytes + LINE_OVERHEAD_BYTES);
}

export class SeriesStore {
  readonly #options: SeriesStoreOptions;
  readonly #series = new Map<InstrumentSpec, Map<string, SeriesPoint>>();
  /** Overflow series per metric, which do not count against the limit. */
  readonly #overflowCount = new Map<InstrumentSpec, number>();
  /** Folded attribute-set key hashes per metric -> when last seen, oldest first, for counting each set once. */
  readonly #folded = new Map<InstrumentSpec, Map<number, number>>();
  /** exposedBytes of each workload metric's live series (overflow series not counted), against cardinalityLimitBytes. */
  readonly #exposedBytes = new Map<InstrumentSpec, number>();

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

  /** Adds an observation to a histogram; `exemplar` (its request) may become its bucket's exemplar. */
  observe(spec: InstrumentSpec, attributes: Record<string, string | undefined>, value: number, nowMs: number, exemplar?: Exemplar): void {
    const point = this.#point(spec, attributes, nowMs);
    const boundaries = spec.boundaries ?? [];
    point.histogram ??= { counts: new Array(boundaries.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity };
    const histogram = point.histogram;
    let bucket = boundaries.findIndex((bound) => value <= bound);
    if (bucket < 0) bucket = boundaries.length;
    histogram.counts[bucket]! += 1;
    histogram.sum += value;
    histogram.count += 1;
    histogram.min = Math.min(histogram.min, value);
    histogram.max = Math.max(histogram.max, value);
    point.updatedMs = nowMs;
    if (exemplar) {
      histogram.exemplars ??= new Array<Exemplar | undefined>(histogram.counts.length).fill(undefined);
      const held = histogram.exemplars[bucket];
      if (!held || exemplar.value >= held.value || exemplar.timeMs - held.timeMs > EXEMPLAR_RECENT_MS) histogram.exemplars[bucket] = exemplar;
    }
  }

  /** Drops series of a metric that match, e.g. the gauges of a zone no longer in use. */
  remove(spec: InstrumentSpec, matches: (attributes: Attributes) => boolean): void {
    const series = this.#series.get(spec);
    if (!series) return;
    for (const [key, point] of series) if (matches(point.attributes)) this.#delete(spec, series, key);
  }

  /** Drops workload series not updated within the idle timeout. */
  expire(nowMs: number): number {
    let dropped = 0;
    for (const [spec, series] of this.#series) {
      if (!spec.expires) continue;
      for (const [key, point] of series) {
        if (nowMs - point.updatedMs > this.#options.idleTimeoutMs) {
          this.#delete(spec, series, key);
          dropped++;
        }
      }
    }
    for (const folded of this.#folded.values()) {
      for (const [key, seenMs] of folded) if (nowMs - seenMs > this.#options.idleTimeoutMs) folded.delete(key);
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
    if (!series) {
      series = new Map();
      this.#series.set(spec, series);
    }
    const values = spec.attributes.map((name) => attributes[name] ?? '');
    const key = values.join('\u0000');
    const existing = series.get(key);
    if (existing) return existing;

    const overflows = this.#overflowCount.get(spec) ?? 0;
    if (series.size - overflows >= this.#options.cardinalityLimit) return this.#overflowPoint(spec, series, key, attributes, nowMs);
    if (spec.expires) {
      const bytes = (this.#exposedBytes.get(spec) ?? 0) + exposedBytes(spec, values);
      if (bytes > this.#options.cardinalityLimitBytes) return this.#overflowPoint(spec, series, key, attributes, nowMs);
      this.#exposedBytes.set(spec, bytes);
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

  /** The overflow series a set past the limit folds into: one per device the set names. */
  #overflowPoint(
    spec: InstrumentSpec,
    series: Map<string, SeriesPoint>,
    key: string,
    attributes: Record<string, string | undefined>,
    nowMs: number,
  ): SeriesPoint {
    this.#noteFolded(spec, key, nowMs);
    const kept = KEPT_ON_OVERFLOW.filter((name) => spec.attributes.includes(name) && attributes[name] !== undefined);
    const overflowKey = [OVERFLOW_KEY_PREFIX, ...kept.map((name) => attributes[name])].join('\u0000');
    let overflow = series.get(overflowKey);
    if (!overflow) {
      const overflowAttributes =
        kept.length === 0
          ? OVERFLOW_ATTRIBUTES
          : Object.freeze({ ...OVERFLOW_ATTRIBUTES, ...Object.fromEntries(kept.map((name) => [name, attributes[name]!])) });
      overflow = { attributes: overflowAttributes, startTimeMs: nowMs, updatedMs: nowMs, value: 0 };
      series.set(overflowKey, overflow);
      this.#overflowCount.set(spec, (this.#overflowCount.get(spec) ?? 0) + 1);
    }
    return overflow;
  }

  /** Tells onOverflow about a set the first time it is folded (again after it was forgotten). */
  #noteFolded(spec: InstrumentSpec, key: string, nowMs: number): void {
    let folded = this.#folded.get(spec);
    if (!folded) {
      folded = new Map();
      this.#folded.set(spec, folded);
    }
    const keyHash = foldedKeyHash(key);
    const known = folded.delete(keyHash);
    folded.set(keyHash, nowMs);
    if (folded.size > foldedMemory(this.#options.cardinalityLimit)) folded.delete(folded.keys().next().value!);
    if (!known) this.#options.onOverflow?.(spec);
  }

  #delete(spec: InstrumentSpec, series: Map<string, SeriesPoint>, key: string): void {
    const point = series.get(key);
    if (!point) return;
    series.delete(key);
    if (point.attributes['otel.metric.overflow'] !== undefined) this.#overflowCount.set(spec, this.#overflowCount.get(spec)! - 1);
    else if (spec.expires) {
      const values = spec.attributes.map((name) => point.attributes[name]!);
      this.#exposedBytes.set(spec, this.#exposedBytes.get(spec)! - exposedBytes(spec, values));
    }
  }
}
