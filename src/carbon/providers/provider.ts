// The one interface every live intensity source implements.
import type { IntensitySignal } from '../accountant.ts';
import type { IntensityPoint } from '../intensity-timeline.ts';

export interface ProviderReading {
  /** Values with the instant each starts to hold, oldest first; may include forecast points. */
  points: IntensityPoint[];
  /** When the provider last computed the data (its own clock); a reading older than intensityMaxAge is stale. */
  observedAtMs: number;
}

export interface IntensityProvider {
  /** `carbon.source`: file, electricitymaps, watttime. */
  readonly name: string;
  readonly signal: IntensitySignal;
  read(nowMs: number): Promise<ProviderReading>;
}

/** Parses an ISO 8601 timestamp field or throws naming it. */
export function parseTimeMs(value: unknown, field: string): number {
  const timeMs = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(timeMs)) throw new Error(`expected an ISO 8601 time in '${field}', got ${JSON.stringify(value)}`);
  return timeMs;
}

/** Parses a non-negative finite number field or throws naming it. */
export function parseIntensity(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`expected a non-negative number in '${field}', got ${JSON.stringify(value)}`);
  }
  return value;
}
