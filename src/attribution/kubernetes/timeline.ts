// State sampled over time, read back for a past range: the ledger asks about an interval only after
// its lag has passed, so the state at that time must be remembered, not just the current one.

export interface TimedValue<T> {
  timeMs: number;
  value: T;
}

export interface Segment<T> {
  startMs: number;
  endMs: number;
  value: T;
}

export class Timeline<T> {
  readonly #entries: TimedValue<T>[] = [];

  /** Records the state from `timeMs` on; it holds until the next one (the last one holds indefinitely). */
  set(timeMs: number, value: T): void {
    // Samples arrive in order; a repeated time replaces the earlier value rather than making an empty segment.
    while (this.#entries.length > 0 && this.#entries.at(-1)!.timeMs >= timeMs) this.#entries.pop();
    this.#entries.push({ timeMs, value });
  }

  points(): readonly TimedValue<T>[] {
    return this.#entries;
  }

  /** The states holding within [startMs, endMs), each clipped to the range. Nothing before the first sample. */
  between(startMs: number, endMs: number): Segment<T>[] {
    const segments: Segment<T>[] = [];
    this.#entries.forEach((entry, index) => {
      const from = Math.max(entry.timeMs, startMs);
      const to = Math.min(this.#entries[index + 1]?.timeMs ?? Infinity, endMs);
      if (from < to) segments.push({ startMs: from, endMs: to, value: entry.value });
    });
    return segments;
  }

  /** Forgets states replaced before `timeMs`, keeping the one that still holds at it. */
  prune(timeMs: number): void {
    while (this.#entries.length > 1 && this.#entries[1]!.timeMs <= timeMs) this.#entries.shift();
  }
}
