// Runs the report's queries in order, reporting progress, and returns the raw samples.
import { type ExemplarSeries, type PrometheusClient, PrometheusError, type PromSample } from './prometheus-client.ts';
import type { ProgressReporter } from './progress.ts';
import {
  METRICS,
  PROJECTED_KEYS,
  REQUEST_ENERGY_BUCKETS,
  REQUIRED_METRIC,
  presenceQuery,
  seriesQueries,
  shiftableQueries,
  windowTotalQueries,
  type GroupBy,
  type SeriesKey,
  type ShiftableKey,
  type WindowTotalKey,
} from './queries.ts';
import { SHIFT_STEP_SECONDS } from './shiftable.ts';

export class NoDataError extends Error {}

export interface QueryPlan {
  fromSeconds: number;
  toSeconds: number;
  stepSeconds: number;
  /** Length of the recent span whose rate the projection extrapolates. */
  projectionBasisSeconds: number;
  groupBy: GroupBy;
}

export interface RawReport {
  missingMetrics: string[];
  current: Record<WindowTotalKey, PromSample[]>;
  previous: Record<WindowTotalKey, PromSample[]>;
  projectionBasis: Record<(typeof PROJECTED_KEYS)[number], PromSample[]>;
  /** Range points every stepSeconds, the last one at toSeconds. */
  series: Record<SeriesKey, PromSample[]>;
  /** Hourly points, buckets ending on the hour inside the window; empty when it holds no whole hour. */
  shiftable: Record<ShiftableKey, PromSample[]>;
  /** The energy-per-request buckets' exemplars in the window; undefined when the backend has no exemplar API. */
  exemplars: ExemplarSeries[] | undefined;
}

interface Task {
  label: string;
  run: () => Promise<PromSample[]>;
  store: (samples: PromSample[]) => void;
}

export async function collect(client: PrometheusClient, plan: QueryPlan, progress: ProgressReporter): Promise<RawReport> {
  const lengthSeconds = plan.toSeconds - plan.fromSeconds;
  // Align range points to end exactly at --to so that the last step closes with the window.
  const stepCount = Math.max(1, Math.floor(lengthSeconds / plan.stepSeconds));
  const seriesStartSeconds = plan.toSeconds - (stepCount - 1) * plan.stepSeconds;

  const tasks: Task[] = [];
  const raw = { current: {}, previous: {}, projectionBasis: {}, series: {}, shiftable: {}, exemplars: undefined } as Omit<RawReport, 'missingMetrics'>;
  const windowQueries = windowTotalQueries(lengthSeconds);
  for (const [key, expr] of entries(windowQueries)) {
    tasks.push({ label: `${key} (window)`, run: () => client.query(expr, plan.toSeconds), store: (s) => (raw.current[key] = s) });
    tasks.push({ label: `${key} (previous window)`, run: () => client.query(expr, plan.fromSeconds), store: (s) => (raw.previous[key] = s) });
  }
  const basisQueries = windowTotalQueries(plan.projectionBasisSeconds);
  for (const key of PROJECTED_KEYS) {
    tasks.push({
      label: `${key} (projection basis)`,
      run: () => client.query(basisQueries[key], plan.toSeconds),
      store: (s) => (raw.projectionBasis[key] = s),
    });
  }
  for (const [key, expr] of entries(seriesQueries(plan.stepSeconds, plan.groupBy))) {
    tasks.push({ label: key, run: () => client.queryRange(expr, seriesStartSeconds, plan.toSeconds, plan.stepSeconds), store: (s) => (raw.series[key] = s) });
  }
  // Hour buckets wholly inside the window: the first ends an hour after the first whole hour starts.
  const firstHourEnd = Math.ceil(plan.fromSeconds / SHIFT_STEP_SECONDS) * SHIFT_STEP_SECONDS + SHIFT_STEP_SECONDS;
  const lastHourEnd = Math.floor(plan.toSeconds / SHIFT_STEP_SECONDS) * SHIFT_STEP_SECONDS;
  for (const [key, expr] of entries(shiftableQueries())) {
    const run = () => (firstHourEnd <= lastHourEnd ? client.queryRange(expr, firstHourEnd, lastHourEnd, SHIFT_STEP_SECONDS) : Promise.resolve([]));
    tasks.push({ label: `${key} (hourly)`, run, store: (s) => (raw.shiftable[key] = s) });
  }

  tasks.push({
    label: 'costliest requests (exemplars)',
    // A backend without the exemplar API (VictoriaMetrics) answers with an error: the report goes on without them.
    run: async () => {
      try {
        raw.exemplars = await client.queryExemplars(REQUEST_ENERGY_BUCKETS, plan.fromSeconds, plan.toSeconds);
      } catch (error) {
        if (!(error instanceof PrometheusError)) throw error;
      }
      return [];
    },
    store: () => {},
  });

  const totalQueries = tasks.length + 1;
  progress(1, totalQueries, 'which metrics have data');
  const presence = await client.query(presenceQuery(lengthSeconds), plan.toSeconds);
  const present = new Set(presence.map((sample) => sample.metric.__name__));
  const missingMetrics = Object.values(METRICS).filter((name) => !present.has(name));
  if (!present.has(REQUIRED_METRIC)) {
    throw new NoDataError(
      `no data between ${iso(plan.fromSeconds)} and ${iso(plan.toSeconds)}: missing ${missingMetrics.join(', ')}. ` +
        'Check --from/--to against the retention of this Prometheus and that it scrapes footprint.',
    );
  }
  // One query at a time: a capacity report is not urgent, and a busy Prometheus stays responsive.
  for (const [index, task] of tasks.entries()) {
    progress(index + 2, totalQueries, task.label);
    task.store(await task.run());
  }
  return { ...raw, missingMetrics };
}

function entries<T extends Record<string, string>>(record: T): Array<[keyof T & string, string]> {
  return Object.entries(record) as Array<[keyof T & string, string]>;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
