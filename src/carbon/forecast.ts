// The forecast a plan uses: the live provider's fresh points ahead (its latest value and forecast,
// refreshed on the provider's own schedule), else the static value held flat, with the reason stated.
import type { IntensitySignal } from './accountant.ts';
import type { IntensityPoint } from './intensity-timeline.ts';
import { planStart, type Forecast } from './plan.ts';

/** How far ahead the daemon publishes and plans by default; Electricity Maps and WattTime forecast 24-72 h. */
const FORECAST_HORIZON_MS = 24 * 3_600_000;
/** The static value is held flat this far: the furthest deadline a plan accepts (plan-args.ts). */
const STATIC_HOLD_MS = 7 * 86_400_000;
/** Step assumed for a forecast of one point (Electricity Maps' hourly granularity). */
const ONE_POINT_STEP_MS = 3_600_000;

export interface SourcedForecast extends Forecast {
  zone: string;
  /** `carbon.source` of the points: the provider's name, or `static`. */
  source: string;
  signal: IntensitySignal;
  /** Set when the static table stands in for a configured provider: why. */
  fallback?: string;
}

export interface ForecastInputs {
  zone: string;
  nowMs: number;
  /** The provider's fresh points from the one in force at nowMs on, oldest first; empty when none. */
  pointsAhead: IntensityPoint[];
  live?: { source: string; signal: IntensitySignal; lastError?: string };
  staticGramsPerKwh: number;
}

export function buildForecast({ zone, nowMs, pointsAhead, live, staticGramsPerKwh }: ForecastInputs): SourcedForecast {
  if (!live || pointsAhead.length === 0) {
    const fallback = !live ? undefined : `${live.source}: ${live.lastError ?? 'no fresh values'}; the static annual average is held flat`;
    return {
      zone,
      source: 'static',
      signal: 'average',
      points: [{ timeMs: nowMs, gramsPerKwh: staticGramsPerKwh }],
      endMs: nowMs + STATIC_HOLD_MS,
      ...(fallback && { fallback }),
    };
  }
  const points = [...pointsAhead];
  // A file whose series starts later than now: the static value covers the time before it.
  if (points[0]!.timeMs > nowMs) points.unshift({ timeMs: nowMs, gramsPerKwh: staticGramsPerKwh });
  const last = points[points.length - 1]!;
  const previous = points[points.length - 2];
  const stepMs = previous && pointsAhead.length > 1 ? last.timeMs - previous.timeMs : ONE_POINT_STEP_MS;
  return { zone, source: live.source, signal: live.signal, points, endMs: Math.max(last.timeMs + stepMs, nowMs + 1) };
}

/** The intensity the forecast gives at an instant, or undefined past its end. */
function forecastValueAt(forecast: Forecast, timeMs: number): number | undefined {
  if (timeMs >= forecast.endMs) return undefined;
  let value: number | undefined;
  for (const point of forecast.points) if (point.timeMs <= timeMs) value = point.gramsPerKwh;
  return value;
}

/** Offsets the forecast gauge publishes: `1h`..`24h`, a bounded label set. */
const FORECAST_OFFSET_HOURS = Array.from({ length: 24 }, (_, index) => index + 1);
/** Job lengths whose best start the daemon publishes: a one-hour and an eight-hour job. */
const FORECAST_JOB_HOURS = [1, 8];

export interface ForecastSummary {
  offsets: { offset: string; gramsPerKwh: number }[];
  bestStarts: { duration: string; startInSeconds: number; gramsPerKwh: number }[];
}

/** What the daemon publishes: the value at each hourly offset inside the forecast, and each job's best start in the next 24 h. */
export function summariseForecast(forecast: Forecast, nowMs: number): ForecastSummary {
  const offsets = FORECAST_OFFSET_HOURS.flatMap((hours) => {
    const gramsPerKwh = forecastValueAt(forecast, nowMs + hours * 3_600_000);
    return gramsPerKwh === undefined ? [] : [{ offset: `${hours}h`, gramsPerKwh }];
  });
  const bestStarts = FORECAST_JOB_HOURS.map((hours) => {
    const plan = planStart({ forecast, nowMs, durationMs: hours * 3_600_000, powerWatts: 1, pue: 1, deadlineMs: nowMs + FORECAST_HORIZON_MS });
    return { duration: `${hours}h`, startInSeconds: (plan.best.startMs - nowMs) / 1000, gramsPerKwh: plan.best.averageGramsPerKwh };
  });
  return { offsets, bestStarts };
}
