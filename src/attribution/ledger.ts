// The ledger: keeps each device's recent energy intervals and, once an interval is older than the
// attribution lag (so late spans still land), splits its energy among the activities that overlap it.
// Conservation holds by construction: every closed interval's joules go to activities or to idle.
import type { EnergyInterval } from '../energy/meter.ts';
import type { Activity, ActivityProvider, ActivitySink, IngestOutcome, RequestRecord, Workload } from './activity.ts';
import { splitInterval } from './split.ts';
import { IDLE, workloadKey } from './workload-key.ts';

/** One workload's part of one device interval. */
export interface AttributedEnergy {
  deviceId: string;
  workload: Workload;
  startMs: number;
  endMs: number;
  energyJoules: number;
  /** The device time this share stands for: seconds of the interval weighted by the split. */
  deviceSeconds: number;
}

/** A request whose every overlapping interval has closed, with the energy its span was given. */
export interface RequestEnergy {
  request: RequestRecord;
  energyJoules: number;
}

export interface LedgerClose {
  shares: AttributedEnergy[];
  requests: RequestEnergy[];
}

export interface LedgerOptions {
  lagMs: number;
  providers: ActivityProvider[];
}

interface PendingSpan {
  activity: Activity;
  energyJoules: number;
  request?: RequestRecord;
}

function appliesTo(activity: Activity, deviceId: string): boolean {
  return activity.deviceIds === undefined || activity.deviceIds.includes(deviceId);
}

function spanKey(startMs: number, endMs: number, workload: Workload): string {
  return `${startMs}|${endMs}|${workloadKey(workload)}`;
}

export class Ledger implements ActivitySink {
  readonly #options: LedgerOptions;
  readonly #intervals: EnergyInterval[] = [];
  #spans: PendingSpan[] = [];
  /** Unpaired spans by start, end and workload, so a request finds the span it was counted as. */
  readonly #unpaired = new Map<string, PendingSpan[]>();
  #closedUntilMs = -Infinity;

  constructor(options: LedgerOptions) {
    this.#options = options;
  }

  get pendingIntervals(): number {
    return this.#intervals.length;
  }

  get closedUntilMs(): number {
    return this.#closedUntilMs;
  }

  addInterval(interval: EnergyInterval): void {
    this.#intervals.push(interval);
  }

  addActivity(activity: Activity): IngestOutcome {
    if (activity.endMs <= this.#closedUntilMs) return 'late';
    const pending: PendingSpan = { activity, energyJoules: 0 };
    this.#spans.push(pending);
    const key = spanKey(activity.startMs, activity.endMs, activity.workload);
    const list = this.#unpaired.get(key);
    if (list) list.push(pending);
    else this.#unpaired.set(key, [pending]);
    return 'accepted';
  }

  addRequest(request: RequestRecord): void {
    const key = spanKey(request.startMs, request.endMs, request.workload);
    const list = this.#unpaired.get(key);
    const pending = list?.shift();
    if (list && list.length === 0) this.#unpaired.delete(key);
    if (pending) pending.request = request;
  }

  /** Closes every interval that ended at least `lagMs` before `nowMs`. */
  close(nowMs: number): LedgerClose {
    const cutoffMs = nowMs - this.#options.lagMs;
    const closing: EnergyInterval[] = [];
    const keep: EnergyInterval[] = [];
    for (const interval of this.#intervals) (interval.endMs <= cutoffMs ? closing : keep).push(interval);
    this.#intervals.length = 0;
    this.#intervals.push(...keep);

    const shares: AttributedEnergy[] = [];
    for (const interval of closing) this.#split(interval, shares);
    if (cutoffMs > this.#closedUntilMs) this.#closedUntilMs = cutoffMs;
    return { shares, requests: this.#finishSpans() };
  }

  #split(interval: EnergyInterval, out: AttributedEnergy[]): void {
    const pulled = this.#options.providers.flatMap((provider) => provider.activitiesBetween(interval.startMs, interval.endMs));
    const candidates: Activity[] = [];
    const spanOf = new Map<Activity, PendingSpan>();
    for (const span of this.#spans) {
      if (span.activity.endMs > interval.startMs && span.activity.startMs < interval.endMs && appliesTo(span.activity, interval.deviceId)) {
        candidates.push(span.activity);
        spanOf.set(span.activity, span);
      }
    }
    for (const activity of pulled) if (appliesTo(activity, interval.deviceId)) candidates.push(activity);

    const { shares, idleSeconds } = splitInterval(interval.startMs, interval.endMs, candidates);
    const durationSeconds = (interval.endMs - interval.startMs) / 1000;
    const joulesPerSecond = interval.energyJoules / durationSeconds;
    const byWorkload = new Map<string, AttributedEnergy>();
    const add = (workload: Workload, seconds: number) => {
      if (seconds <= 0) return;
      const key = workloadKey(workload);
      const existing = byWorkload.get(key);
      if (existing) {
        existing.deviceSeconds += seconds;
        existing.energyJoules += seconds * joulesPerSecond;
      } else {
        byWorkload.set(key, {
          deviceId: interval.deviceId,
          workload,
          startMs: interval.startMs,
          endMs: interval.endMs,
          energyJoules: seconds * joulesPerSecond,
          deviceSeconds: seconds,
        });
      }
    };
    for (const share of shares) {
      add(share.activity.workload, share.seconds);
      const span = spanOf.get(share.activity);
      if (span) span.energyJoules += share.seconds * joulesPerSecond;
    }
    add(IDLE, idleSeconds);
    out.push(...byWorkload.values());
  }

  /** Spans that no pending interval can still touch are done: report their requests, drop them. */
  #finishSpans(): RequestEnergy[] {
    const oldestPendingMs = this.#intervals.reduce((min, interval) => Math.min(min, interval.startMs), this.#closedUntilMs);
    const done: RequestEnergy[] = [];
    const open: PendingSpan[] = [];
    for (const span of this.#spans) {
      if (span.activity.endMs <= oldestPendingMs) {
        if (span.request) done.push({ request: span.request, energyJoules: span.energyJoules });
        else this.#forgetUnpaired(span);
      } else {
        open.push(span);
      }
    }
    this.#spans = open;
    return done;
  }

  #forgetUnpaired(span: PendingSpan): void {
    const key = spanKey(span.activity.startMs, span.activity.endMs, span.activity.workload);
    const list = this.#unpaired.get(key);
    if (!list) return;
    const index = list.indexOf(span);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.#unpaired.delete(key);
  }
}
