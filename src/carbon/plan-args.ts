// Arguments of a plan (`GET /v1/plan` and `footprint plan`), validated once for both: each error names its argument.
import { parseDurationMs } from '../config.ts';
import { PlanError } from './plan.ts';

/**
 * Shortest job planned: one second. Shorter jobs have no start worth shifting (forecasts change every 5-60
 * minutes), and below about 0.2 µs `now + duration` is `now` in float64 milliseconds, which made the mean
 * intensity 0/0 and the grams null.
 */
const MIN_DURATION_MS = 1000;
/** Longest job planned: a week (forecasts reach 72 h at most, so longer jobs cannot be shifted anyway). */
const MAX_DURATION_MS = 7 * 86_400_000;
/** Largest job power: 100 MW, a whole data hall. */
const MAX_POWER_WATTS = 100e6;
/** Furthest deadline: 7 days ahead. */
const MAX_DEADLINE_AHEAD_MS = 7 * 86_400_000;
const POWER_UNITS: Record<string, number> = { w: 1, kw: 1e3, mw: 1e6 };

export interface PlanArgs {
  durationMs: number;
  powerWatts: number;
  deadlineMs?: number;
}

export function parsePlanDuration(text: string): number {
  const durationMs = parseDurationMs(text);
  if (durationMs === undefined || !(durationMs >= MIN_DURATION_MS) || durationMs > MAX_DURATION_MS) {
    throw new PlanError(`duration: '${text.slice(0, 64)}' is invalid: expected a duration like 90m or 4h, at least 1s and at most 7d`);
  }
  return durationMs;
}

/** `2.4kW`, `300W`, `1.2MW` (the unit is required, so 2400 is never read as kW or W by mistake). */
export function parsePower(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(w|kw|mw)\s*$/i.exec(text);
  const watts = match ? Number(match[1]) * POWER_UNITS[match[2]!.toLowerCase()]! : Number.NaN;
  if (!(watts > 0) || watts > MAX_POWER_WATTS)
    throw new PlanError(`power: '${text.slice(0, 64)}' is invalid: expected a power like 300W, 2.4kW or 1.2MW, above 0 and at most 100MW`);
  return watts;
}

/** An ISO 8601 time with a zone (`2026-12-02T06:00Z`), after now and at most 7 days ahead. */
export function parseDeadline(text: string, nowMs: number): number {
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(text.trim());
  const deadlineMs = hasZone ? Date.parse(text.trim()) : Number.NaN;
  if (Number.isNaN(deadlineMs)) throw new PlanError(`by: '${text.slice(0, 64)}' is invalid: expected an ISO 8601 time with a zone, e.g. 2026-12-02T06:00Z`);
  if (deadlineMs <= nowMs || deadlineMs - nowMs > MAX_DEADLINE_AHEAD_MS) {
    throw new PlanError(`by: '${text.slice(0, 64)}' is invalid: expected a time after now and at most 7 days ahead`);
  }
  return deadlineMs;
}

export function parsePlanArgs(args: { duration?: string; power?: string; by?: string }, nowMs: number): PlanArgs {
  if (args.duration === undefined) throw new PlanError('duration: (missing) is invalid: expected a duration like 4h');
  if (args.power === undefined) throw new PlanError('power: (missing) is invalid: expected a power like 2.4kW');
  return {
    durationMs: parsePlanDuration(args.duration),
    powerWatts: parsePower(args.power),
    ...(args.by !== undefined && { deadlineMs: parseDeadline(args.by, nowMs) }),
  };
}
