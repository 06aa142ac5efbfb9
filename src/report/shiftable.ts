// "Shiftable saving": for each training job, the operational grams it would have emitted had each
// day's run started at the hour of that day that gives the least, under the intensity history the
// daemons applied. Pure: hourly samples in, rows out. Method: docs/report.md, "Shiftable saving".
import type { PromSample } from './prometheus-client.ts';

export const SHIFT_STEP_SECONDS = 3600;
const DAY_SECONDS = 86_400;
/** Starts whose grams differ by less than this share are a tie: Prometheus and VictoriaMetrics round increases differently (1e-10 relative). */
const TIE_RELATIVE = 1e-9;

interface ShiftableJob {
  job: string;
  /** Days (UTC) in the window on which the job ran. */
  days: number;
  actualGrams: number;
  /** Each day's run moved, as a whole, to its best start within the same day. */
  bestGrams: number;
  savingGrams: number;
}

interface JobRun {
  job: string;
  instance: string;
  start: string;
  end: string;
  /** Where the best start of that day was. */
  bestStart: string;
}

export interface Shiftable {
  jobs: ShiftableJob[];
  totalSavingGrams: number;
  runs: JobRun[];
}

/** Hour-bucket end (s) -> value, per key. */
function byKey(samples: PromSample[], key: (metric: Record<string, string>) => string): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const sample of samples) {
    const points = out.get(key(sample.metric)) ?? new Map<number, number>();
    for (const [timeSeconds, value] of sample.points) points.set(timeSeconds, (points.get(timeSeconds) ?? 0) + value);
    out.set(key(sample.metric), points);
  }
  return out;
}

/**
 * Grams per joule each node applied in each hour: its operational grams over its host devices' energy
 * (PUE x intensity / 3.6e6, whatever the provider), known wherever the node drew energy.
 */
export function gramsPerJouleByNode(nodeGrams: PromSample[], nodeEnergy: PromSample[]): Map<string, Map<number, number>> {
  const grams = byKey(nodeGrams, (m) => m.instance ?? '');
  const rates = new Map<string, Map<number, number>>();
  for (const [instance, joules] of byKey(nodeEnergy, (m) => m.instance ?? '')) {
    const rate = new Map<number, number>();
    for (const [timeSeconds, energyJoules] of joules) {
      const g = grams.get(instance)?.get(timeSeconds);
      if (energyJoules > 0 && g !== undefined) rate.set(timeSeconds, g / energyJoules);
    }
    rates.set(instance, rate);
  }
  return rates;
}

/**
 * `trainingEnergy`: hourly joules per (ml_job, instance), buckets ending on the hour. A day's run spans
 * its first to last hour with energy; moving it by whole hours keeps its profile and must keep it in
 * the same UTC day with an applied rate at every hour. Ties go to the earliest start.
 */
export function shiftableSavings(trainingEnergy: PromSample[], rates: Map<string, Map<number, number>>): Shiftable {
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  const jobs = new Map<string, ShiftableJob & { dayKeys: Set<number> }>();
  const runs: JobRun[] = [];
  for (const sample of trainingEnergy) {
    const job = sample.metric.ml_job || '(unlabelled)';
    const instance = sample.metric.instance ?? '';
    const rate = rates.get(instance) ?? new Map<number, number>();
    const days = new Map<number, Array<[number, number]>>();
    for (const [endSeconds, joules] of sample.points) {
      const day = Math.floor((endSeconds - SHIFT_STEP_SECONDS) / DAY_SECONDS);
      days.set(day, [...(days.get(day) ?? []), [endSeconds, joules]]);
    }
    for (const [day, points] of days) {
      const active = points.filter(([, joules]) => joules > 0);
      if (active.length === 0) continue;
      const firstSeconds = active[0]![0];
      const lastSeconds = active.at(-1)![0];
      const profile = points.filter(([t]) => t >= firstSeconds && t <= lastSeconds);
      const gramsAt = (shiftSeconds: number): number | undefined => {
        let grams = 0;
        for (const [t, joules] of profile) {
          const shifted = t + shiftSeconds;
          const perJoule = rate.get(shifted);
          if (perJoule === undefined || Math.floor((shifted - SHIFT_STEP_SECONDS) / DAY_SECONDS) !== day) return undefined;
          grams += joules * perJoule;
        }
        return grams;
      };
      const actual = gramsAt(0);
      if (actual === undefined) continue;
      // Every hour of the day as a start, earliest first; only a figure lower by more than TIE_RELATIVE
      // replaces the best, so ties keep the earliest whatever rounding the query backend adds.
      let best = { shiftSeconds: 0, grams: Number.POSITIVE_INFINITY };
      const dayFirstEnd = day * DAY_SECONDS + SHIFT_STEP_SECONDS;
      for (let start = dayFirstEnd; start < dayFirstEnd + DAY_SECONDS; start += SHIFT_STEP_SECONDS) {
        const grams = gramsAt(start - firstSeconds);
        if (grams !== undefined && grams < best.grams * (1 - TIE_RELATIVE)) best = { shiftSeconds: start - firstSeconds, grams };
      }
      if (best.grams > actual) best = { shiftSeconds: 0, grams: actual };
      const row = jobs.get(job) ?? { job, days: 0, actualGrams: 0, bestGrams: 0, savingGrams: 0, dayKeys: new Set<number>() };
      row.dayKeys.add(day);
      row.actualGrams += actual;
      row.bestGrams += best.grams;
      row.savingGrams += actual - best.grams;
      jobs.set(job, row);
      runs.push({
        job,
        instance,
        start: iso(firstSeconds - SHIFT_STEP_SECONDS),
        end: iso(lastSeconds),
        bestStart: iso(firstSeconds - SHIFT_STEP_SECONDS + best.shiftSeconds),
      });
    }
  }
  const rows = [...jobs.values()]
    .map(({ dayKeys, ...row }) => ({ ...row, days: dayKeys.size }))
    .sort((a, b) => b.savingGrams - a.savingGrams || a.job.localeCompare(b.job));
  return { jobs: rows, totalSavingGrams: rows.reduce((sum, row) => sum + row.savingGrams, 0), runs };
}
