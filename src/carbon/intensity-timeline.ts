// The intensity valid at each instant: live points from a provider where fresh enough, else the static value.
import type { IntensitySignal } from './accountant.ts';

/** One provider value: valid from `timeMs` until the next point's `timeMs`. */
export interface IntensityPoint {
  timeMs: number;
  gramsPerKwh: number;
}

export interface IntensityValue {
  gramsPerKwh: number;
  source: string;
  signal: IntensitySignal;
  /** When the value was fetched; undefined for the static value. */
  fetchedAtMs?: number;
}

interface StoredPoint extends IntensityPoint {
  fetchedAtMs: number;
}

export class IntensityTimeline {
  #points: StoredPoint[] = [];

  readonly #fallback: IntensityValue;
  readonly #live: { source: string; signal: IntensitySignal };
  /** A point fetched this long ago or longer no longer counts; the static value takes over. */
  readonly #maxAgeMs: number;

  constructor(fallback: IntensityValue, live: { source: string; signal: IntensitySignal }, maxAgeMs: number) {
    this.#fallback = fallback;
    this.#live = live;
    this.#maxAgeMs = maxAgeMs;
  }

  /** Merges a fetch: points at the same instant are replaced (a provider may revise a value). */
  record(points: IntensityPoint[], fetchedAtMs: number): void {
    const byTime = new Map(this.#points.map((point) => [point.timeMs, point]));
    for (const point of points) byTime.set(point.timeMs, { ...point, fetchedAtMs });
    this.#points = [...byTime.values()].sort((a, b) => a.timeMs - b.timeMs);
  }

  /** Drops points superseded before `beforeMs`; the one in force at `beforeMs` stays. */
  prune(beforeMs: number): void {
    const index = this.#indexAt(beforeMs);
    if (index > 0) this.#points = this.#points.slice(index);
  }

  valueAt(timeMs: number): IntensityValue {
    const point = this.#points[this.#indexAt(timeMs)];
    if (!point || point.timeMs > timeMs || timeMs - point.fetchedAtMs >= this.#maxAgeMs) return this.#fallback;
    return { gramsPerKwh: point.gramsPerKwh, fetchedAtMs: point.fetchedAtMs, ...this.#live };
  }

  /**
   * The fresh points ahead: the one in force at `nowMs` and every later one, each fetched less than
   * the maximum age before `nowMs` (a forecast is judged by when it was fetched, not by the hour it covers).
   */
  pointsAhead(nowMs: number): IntensityPoint[] {
    return this.#points
      .slice(this.#indexAt(nowMs))
      .filter((point) => nowMs - point.fetchedAtMs < this.#maxAgeMs)
      .map(({ timeMs, gramsPerKwh }) => ({ timeMs, gramsPerKwh }));
  }

  /** Instants in (startMs, endMs) where valueAt may change: point starts and point expiries. */
  changesBetween(startMs: number, endMs: number): number[] {
    const changes: number[] = [];
    for (const point of this.#points) {
      for (const timeMs of [point.timeMs, point.fetchedAtMs + this.#maxAgeMs]) {
        if (timeMs > startMs && timeMs < endMs) changes.push(timeMs);
      }
    }
    return changes;
  }

  /** Index of the last point with timeMs <= t (0 when none, so callers check the point's time). */
  #indexAt(timeMs: number): number {
    let low = 0;
    let high = this.#points.length - 1;
    let found = 0;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.#points[mid]!.timeMs <= timeMs) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }
}
