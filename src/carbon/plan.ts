// Carbon-aware planning: the start time that gives a job the least CO2e under a forecast. A pure
// function (no clock, no I/O): the forecast, the job and "now" come in, the best start comes out.
// Method and limits: docs/planning.md.
import type { IntensityPoint } from './intensity-timeline.ts';
import { JOULES_PER_KWH } from './units.ts';

/** Intensity ahead: each point holds from its `timeMs` until the next point's, the last until `endMs`. */
export interface Forecast {
  points: IntensityPoint[];
  endMs: number;
}

export interface PlanRequest {
  forecast: Forecast;
  nowMs: number;
  durationMs: number;
  /** Average power of the job at the devices (W); PUE turns it into facility power. */
  powerWatts: number;
  pue: number;
  /** The job must end by this instant; undefined: anywhere inside the forecast. */
  deadlineMs?: number;
}

interface PlannedStart {
  startMs: number;
  /** kWh x PUE x the time-weighted intensity over [startMs, startMs + durationMs). */
  gramsCo2e: number;
  averageGramsPerKwh: number;
}

export interface Plan {
  best: PlannedStart;
  now: PlannedStart;
  /** Device energy of the job: power x duration (before PUE). */
  energyKwh: number;
  savingGrams: number;
  /** Why the answer may be less than asked for (deadline too close, forecast too short). */
  notes: string[];
}

export class PlanError extends Error {}

/**
 * Grams over a window are piecewise linear in the start time, with breaks where the start or the end
 * crosses a point boundary, so the minimum is at one of those starts (or at now, or at the latest
 * start). Candidates are tried in time order and only a strictly lower figure replaces the best, so
 * ties go to the earliest start.
 */
export function planStart(request: PlanRequest): Plan {
  const { forecast, nowMs, durationMs, powerWatts, pue, deadlineMs } = request;
  if (!(durationMs > 0) || !Number.isFinite(durationMs)) throw new PlanError('duration must be a positive time');
  if (!(powerWatts > 0) || !Number.isFinite(powerWatts)) throw new PlanError('power must be a positive number of watts');
  if (forecast.points.length === 0) throw new PlanError('the forecast is empty');
  const first = forecast.points[0]!;
  if (first.timeMs > nowMs) throw new PlanError(`the forecast starts at ${iso(first.timeMs)}, after now (${iso(nowMs)})`);

  const energyKwh = (powerWatts * (durationMs / 1000)) / JOULES_PER_KWH;
  const rate = (startMs: number): PlannedStart => {
    const averageGramsPerKwh = averageIntensity(forecast.points, startMs, startMs + durationMs);
    return { startMs, gramsCo2e: energyKwh * pue * averageGramsPerKwh, averageGramsPerKwh };
  };

  const notes: string[] = [];
  const horizonMs = Math.min(forecast.endMs, deadlineMs ?? Number.POSITIVE_INFINITY);
  const latestStartMs = horizonMs - durationMs;
  if (deadlineMs !== undefined && nowMs + durationMs > deadlineMs) {
    notes.push(`the deadline ${iso(deadlineMs)} is closer than the job's duration: starting now it ends at ${iso(nowMs + durationMs)}`);
  } else if (nowMs + durationMs > forecast.endMs) {
    notes.push(`the forecast ends at ${iso(forecast.endMs)}, before the job would end; its last value is taken to hold until then`);
  }

  const now = rate(nowMs);
  let best = now;
  if (latestStartMs > nowMs) {
    const candidates = new Set<number>([latestStartMs]);
    for (const { timeMs } of forecast.points) candidates.add(timeMs).add(timeMs - durationMs);
    for (const startMs of [...candidates].filter((t) => t > nowMs && t <= latestStartMs).sort((a, b) => a - b)) {
      const planned = rate(startMs);
      if (planned.gramsCo2e < best.gramsCo2e * (1 - 1e-12)) best = planned;
    }
  }
  return { best, now, energyKwh, savingGrams: now.gramsCo2e - best.gramsCo2e, notes };
}

/** Time-weighted mean intensity over [fromMs, toMs); the last point holds past its start. */
export function averageIntensity(points: readonly IntensityPoint[], fromMs: number, toMs: number): number {
  let weighted = 0;
  for (let i = lastPointAtOrBefore(points, fromMs); i < points.length && points[i]!.timeMs < toMs; i++) {
    const segmentStart = Math.max(points[i]!.timeMs, fromMs);
    const segmentEnd = Math.min(points[i + 1]?.timeMs ?? Number.POSITIVE_INFINITY, toMs);
    if (segmentEnd > segmentStart) weighted += points[i]!.gramsPerKwh * (segmentEnd - segmentStart);
  }
  return weighted / (toMs - fromMs);
}

/** Binary search, so a 5-minute WattTime forecast (288 points a day) stays cheap to plan over. */
function lastPointAtOrBefore(points: readonly IntensityPoint[], timeMs: number): number {
  let low = 0;
  let high = points.length - 1;
  let found = 0;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (points[mid]!.timeMs <= timeMs) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

function iso(timeMs: number): string {
  return new Date(timeMs).toISOString();
}
