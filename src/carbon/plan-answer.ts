// The answer of a plan, the same for `GET /v1/plan` and `footprint plan`: JSON, and one readable line.
import type { SourcedForecast } from './forecast.ts';
import { planStart, PlanError } from './plan.ts';
import { parsePlanArgs, type PlanArgs } from './plan-args.ts';

export interface PlanAnswer {
  zone: string;
  source: string;
  signal: string;
  /** Present when the static table stood in for the configured provider: why. */
  fallback?: string;
  durationSeconds: number;
  powerWatts: number;
  pue: number;
  deadline?: string;
  bestStart: string;
  bestStartInSeconds: number;
  energyKwh: number;
  gramsCo2e: number;
  averageGramsPerKwh: number;
  nowGramsCo2e: number;
  nowAverageGramsPerKwh: number;
  savingGrams: number;
  savingPercent: number;
  notes: string[];
  forecast: { datetime: string; gramsPerKwh: number }[];
  forecastEnd: string;
}

export function answerPlan(forecast: SourcedForecast, args: PlanArgs, pue: number, nowMs: number): PlanAnswer {
  const plan = planStart({ forecast, nowMs, pue, ...args });
  return {
    zone: forecast.zone,
    source: forecast.source,
    signal: forecast.signal,
    ...(forecast.fallback && { fallback: forecast.fallback }),
    durationSeconds: args.durationMs / 1000,
    powerWatts: args.powerWatts,
    pue,
    ...(args.deadlineMs !== undefined && { deadline: new Date(args.deadlineMs).toISOString() }),
    bestStart: new Date(plan.best.startMs).toISOString(),
    bestStartInSeconds: (plan.best.startMs - nowMs) / 1000,
    energyKwh: plan.energyKwh,
    gramsCo2e: plan.best.gramsCo2e,
    averageGramsPerKwh: plan.best.averageGramsPerKwh,
    nowGramsCo2e: plan.now.gramsCo2e,
    nowAverageGramsPerKwh: plan.now.averageGramsPerKwh,
    savingGrams: plan.savingGrams,
    savingPercent: plan.now.gramsCo2e > 0 ? (100 * plan.savingGrams) / plan.now.gramsCo2e : 0,
    notes: plan.notes,
    forecast: forecast.points.map((point) => ({ datetime: new Date(point.timeMs).toISOString(), gramsPerKwh: point.gramsPerKwh })),
    forecastEnd: new Date(forecast.endMs).toISOString(),
  };
}

/** `start 2026-12-01T03:00:00.000Z (in 3h 0m): 9.6 kWh, 1200 gCO2e vs 2400 gCO2e now, saves 1200 g (50.0%); DE electricitymaps average forecast` */
export function planLine(answer: PlanAnswer): string {
  const inMinutes = Math.round(answer.bestStartInSeconds / 60);
  const when = inMinutes === 0 ? 'now' : `in ${Math.floor(inMinutes / 60)}h ${inMinutes % 60}m`;
  const source = answer.fallback
    ? `static fallback (${answer.fallback})`
    : answer.source === 'static'
      ? 'static annual average (no forecast provider configured)'
      : `${answer.source} ${answer.signal} forecast`;
  const notes = answer.notes.length > 0 ? `; note: ${answer.notes.join('; ')}` : '';
  return (
    `start ${answer.bestStart} (${when}): ${round(answer.energyKwh)} kWh, ${round(answer.gramsCo2e)} gCO2e vs ${round(answer.nowGramsCo2e)} gCO2e now, ` +
    `saves ${round(answer.savingGrams)} g (${answer.savingPercent.toFixed(1)}%); ${answer.zone} ${source}${notes}`
  );
}

function round(value: number): string {
  return Number(value.toPrecision(4)).toString();
}

/** Validates the query's strings and answers, or says which argument is wrong (the caller's 400 / exit 2). */
export function planFromQuery(
  query: { duration?: string; power?: string; by?: string },
  forecast: SourcedForecast,
  pue: number,
  nowMs: number,
): { answer: PlanAnswer } | { error: string } {
  try {
    return { answer: answerPlan(forecast, parsePlanArgs(query, nowMs), pue, nowMs) };
  } catch (error) {
    if (error instanceof PlanError) return { error: error.message };
    throw error;
  }
}
