// The ledger: keeps each device's recent energy intervals and, once an interval is older than the
// attribution lag, splits its energy among the activities that overlap it. An OTel SDK exports a span
// only when it ends, so a long request arrives after its first intervals were split: the idle part of
// a closed interval therefore stays provisional for the attribution horizon, a span that arrives later
// claims from it, and idle is published only when the horizon passes. Conservation holds by
// construction: every interval's joules are either published (to activities or idle) or unsettled
// (a pending interval or provisional idle), and the unsettled joules are reported per device.
import type { EnergyInterval } from '../energy/meter.ts';
import type { Activity, ActivityProvider, ActivitySink, IngestOutcome, RequestRecord, SpanActivity, Workload } from './activity.ts';
import { SpanTable } from './span-table.ts';
import { addActivity, addColumn, emptyColumns, SPAN_TIER, splitColumns, splitInterval } from './split.ts';
import { IDLE, workloadKey } from './workload-key.ts';

/** One workload's part of one device interval (or of a stretch of one). */
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
  /** Per device ever seen: joules not yet published (pending intervals plus provisional idle). */
  unsettledJoules: Map<string, number>;
  /** Joules of device time that spans pushed since the last close could not claim. */
  truncatedJoules: number;
}

export interface LedgerOptions {
  lagMs: number;
  /** How long the idle part of a closed interval stays claimable by late spans (>= lagMs). */
  horizonMs: number;
  providers: ActivityProvider[];
}

/** A span of the current addSpans call while it claims: its activity and its row in the span table. */
interface Claimant {
  activity: Activity;
  row: number;
}

/** Idle time of a closed interval, claimable by late spans until the horizon passes. */
interface ProvisionalIdle {
  startMs: number;
  endMs: number;
  /** The interval's mean power (its energy over its duration): power is constant within an interval. */
  powerWatts: number;
  /** Share of the device's time in the range that nobody took (0..1); 0 is kept so lost joules are known. */
  fraction: number;
  /**
   * The workload key that took the rest of the range when exactly one did (MIXED when several, absent
   * when nobody did). A late span of that same workload that misses this time is not truncated: the
   * energy already went to its workload, only to an earlier request of it.
   */
  takenBy?: string;
}

interface DeviceBook {
  pending: EnergyInterval[];
  /** Closed time still held, in time order, adjacent stretches of equal power and fraction merged. */
  provisional: ProvisionalIdle[];
  /** Where the device's first interval started: no energy was measured before. */
  measuredFromMs: number;
  /** Everything before this was settled: its idle is published and no span can claim it any more. */
  settledUntilMs: number;
}

/** `takenBy` of a range that several workloads took. */
const MIXED = '\u0000mixed';

/** Who took a range once `key` takes part of it too. */
function joinTaker(takenBy: string | undefined, key: string): string {
  return takenBy === undefined || takenBy === key ? key : MIXED;
}

/** Device time below this (seconds) a span may miss without being reported truncated: float residue. */
const LOST_SECONDS_EPSILON = 1e-9;

function appliesTo(deviceIds: string[] | undefined, deviceId: string): boolean {
  return deviceIds === undefined || deviceIds.includes(deviceId);
}

function secondsOf(range: { startMs: number; endMs: number }): number {
  return (range.endMs - range.startMs) / 1000;
}

function pushMerged(stretches: ProvisionalIdle[], stretch: ProvisionalIdle): void {
  if (stretch.endMs <= stretch.startMs) return;
  const last = stretches[stretches.length - 1];
  const same = last && last.powerWatts === stretch.powerWatts && last.fraction === stretch.fraction && last.takenBy === stretch.takenBy;
  if (last && same && last.endMs === stretch.startMs) last.endMs = stretch.endMs;
  else stretches.push(stretch);
}

/** Sums shares per workload for one device range. */
class ShareCollector {
  readonly #byWorkload = new Map<string, AttributedEnergy>();
  readonly #range: { deviceId: string; startMs: number; endMs: number };

  constructor(deviceId: string, startMs: number, endMs: number) {
    this.#range = { deviceId, startMs, endMs };
  }

  add(workload: Workload, seconds: number, powerWatts: number): void {
    if (seconds <= 0) return;
    const key = workloadKey(workload);
    const existing = this.#byWorkload.get(key);
    if (existing) {
      existing.deviceSeconds += seconds;
      existing.energyJoules += seconds * powerWatts;
    } else {
      this.#byWorkload.set(key, {
        deviceId: this.#range.deviceId,
        workload,
        startMs: this.#range.startMs,
        endMs: this.#range.endMs,
        energyJoules: seconds * powerWatts,
        deviceSeconds: seconds,
      });
    }
  }

  /** The one workload key that took time here, MIXED for several, undefined for none. */
  get taker(): string | undefined {
    if (this.#byWorkload.size === 0) return undefined;
    return this.#byWorkload.size === 1 ? this.#byWorkload.keys().next().value : MIXED;
  }

  drainInto(out: AttributedEnergy[]): void {
    out.push(...this.#byWorkload.values());
  }
}

export class Ledger implements ActivitySink {
  readonly #options: LedgerOptions;
  readonly #devices = new Map<string, DeviceBook>();
  readonly #spans = new SpanTable();
  /** Shares late spans claimed since the last close, published with it. */
  #claimed: AttributedEnergy[] = [];
  #truncatedJoules = 0;
  #closedUntilMs = -Infinity;

  constructor(options: LedgerOptions) {
    this.#options = options;
  }

  get pendingIntervals(): number {
    let count = 0;
    for (const book of this.#devices.values()) count += book.pending.length;
    return count;
  }

  addInterval(interval: EnergyInterval): void {
    let book = this.#devices.get(interval.deviceId);
    if (!book) {
      book = { pending: [], provisional: [], measuredFromMs: interval.startMs, settledUntilMs: -Infinity };
      this.#devices.set(interval.deviceId, book);
    }
    book.pending.push(interval);
  }

  /**
   * Takes finished spans. Each claims, from the provisional idle of closed intervals it overlaps, the
   * time nobody took (spans of one call share it by weight); the rest of its range is split when its
   * intervals close. A span that misses device time (settled, or taken by others) is `truncated`.
   */
  addSpans(spans: SpanActivity[]): IngestOutcome[] {
    const claimants = spans.map((span): Claimant => ({ activity: span.activity, row: this.#spans.push(span) }));
    const lostSeconds = new Map<Claimant, number>();
    for (const [deviceId, book] of this.#devices) this.#claim(deviceId, book, claimants, lostSeconds);
    return claimants.map((span) => ((lostSeconds.get(span) ?? 0) > LOST_SECONDS_EPSILON ? 'truncated' : 'accepted'));
  }

  /** Closes every interval that ended at least `lagMs` before `nowMs`; settles idle older than the horizon. */
  close(nowMs: number): LedgerClose {
    const cutoffMs = nowMs - this.#options.lagMs;
    const settleBeforeMs = nowMs - this.#options.horizonMs;
    const shares = this.#claimed;
    this.#claimed = [];
    const unsettledJoules = new Map<string, number>();
    for (const [deviceId, book] of this.#devices) {
      const open: EnergyInterval[] = [];
      for (const interval of book.pending) {
        if (interval.endMs <= cutoffMs) this.#split(interval, book, shares);
        else open.push(interval);
      }
      book.pending = open;
      this.#settle(deviceId, book, settleBeforeMs, shares);
      let joules = 0;
      for (const interval of book.pending) joules += interval.energyJoules;
      for (const stretch of book.provisional) joules += secondsOf(stretch) * stretch.fraction * stretch.powerWatts;
      unsettledJoules.set(deviceId, joules);
    }
    if (cutoffMs > this.#closedUntilMs) this.#closedUntilMs = cutoffMs;
    const truncatedJoules = this.#truncatedJoules;
    this.#truncatedJoules = 0;
    return { shares, requests: this.#finishSpans(), unsettledJoules, truncatedJoules };
  }

  #split(interval: EnergyInterval, book: DeviceBook, out: AttributedEnergy[]): void {
    const pulled = this.#options.providers.flatMap((provider) => provider.activitiesBetween(interval.startMs, interval.endMs));
    const spans = this.#spans;
    const columns = emptyColumns(spans.rows + pulled.length);
    // Which span row each column is (-1: a pulled activity, kept in `pulledAt`).
    const rowAt = new Int32Array(columns.tier.length);
    const pulledAt: Activity[] = [];
    for (let row = 0; row < spans.rows; row++) {
      if (!appliesTo(spans.deviceIds(row), interval.deviceId)) continue;
      const index = addColumn(columns, SPAN_TIER, spans.weight(row), spans.startMs(row), spans.endMs(row), interval.startMs, interval.endMs);
      if (index >= 0) rowAt[index] = row;
    }
    for (const activity of pulled) {
      if (!appliesTo(activity.deviceIds, interval.deviceId)) continue;
      const index = addActivity(columns, activity, interval.startMs, interval.endMs);
      if (index >= 0) {
        rowAt[index] = -1;
        pulledAt[index] = activity;
      }
    }

    const { seconds, idle } = splitColumns(interval.startMs, interval.endMs, columns);
    const powerWatts = interval.energyJoules / secondsOf(interval);
    const collector = new ShareCollector(interval.deviceId, interval.startMs, interval.endMs);
    for (let index = 0; index < columns.count; index++) {
      const row = rowAt[index]!;
      const shareSeconds = seconds[index]!;
      if (row < 0) {
        collector.add(pulledAt[index]!.workload, shareSeconds, powerWatts);
      } else {
        collector.add(spans.workload(row), shareSeconds, powerWatts);
        spans.addEnergy(row, shareSeconds * powerWatts);
      }
    }
    const takenBy = collector.taker;
    collector.drainInto(out);
    for (const stretch of idle) pushMerged(book.provisional, { ...stretch, powerWatts, ...(takenBy !== undefined && stretch.fraction < 1 && { takenBy }) });
  }

  /** Publishes, as one idle share, the provisional idle that ended before `beforeMs`. */
  #settle(deviceId: string, book: DeviceBook, beforeMs: number, out: AttributedEnergy[]): void {
    let settled = 0;
    let idle: AttributedEnergy | undefined;
    for (const stretch of book.provisional) {
      if (stretch.endMs > beforeMs) break;
      settled++;
      book.settledUntilMs = stretch.endMs;
      const seconds = secondsOf(stretch) * stretch.fraction;
      if (seconds <= 0) continue;
      idle ??= { deviceId, workload: IDLE, startMs: stretch.startMs, endMs: stretch.endMs, energyJoules: 0, deviceSeconds: 0 };
      idle.endMs = stretch.endMs;
      idle.energyJoules += seconds * stretch.powerWatts;
      idle.deviceSeconds += seconds;
    }
    book.provisional.splice(0, settled);
    if (idle) out.push(idle);
  }

  /** Lets `spans` take the provisional idle of `deviceId` they overlap, and notes the time they miss. */
  #claim(deviceId: string, book: DeviceBook, spans: Claimant[], lostSeconds: Map<Claimant, number>): void {
    // Only spans that start before the device's closed time ends can miss or claim any of it.
    const closedEndMs = Math.max(book.settledUntilMs, book.provisional[book.provisional.length - 1]?.endMs ?? -Infinity);
    const claimants = spans.filter((span) => span.activity.startMs < closedEndMs && appliesTo(span.activity.deviceIds, deviceId));
    if (claimants.length === 0) return;
    const lose = (span: Claimant, seconds: number) => lostSeconds.set(span, (lostSeconds.get(span) ?? 0) + seconds);
    // Settled time is gone: its idle was published. Its power is no longer known, so only the time counts.
    for (const span of claimants) {
      const fromMs = Math.max(span.activity.startMs, book.measuredFromMs);
      const toMs = Math.min(span.activity.endMs, book.settledUntilMs);
      if (toMs > fromMs) lose(span, (toMs - fromMs) / 1000);
    }
    const kept: ProvisionalIdle[] = [];
    for (const stretch of book.provisional) {
      const over = claimants.filter((span) => span.activity.startMs < stretch.endMs && span.activity.endMs > stretch.startMs);
      if (over.length === 0) {
        pushMerged(kept, stretch);
        continue;
      }
      const spanOf = new Map(over.map((span) => [span.activity, span]));
      const { shares, idle } = splitInterval(
        stretch.startMs,
        stretch.endMs,
        over.map((span) => span.activity),
      );
      const collector = new ShareCollector(deviceId, stretch.startMs, stretch.endMs);
      let takenBy = stretch.takenBy;
      for (const share of shares) {
        const span = spanOf.get(share.activity)!;
        const key = workloadKey(span.activity.workload);
        const claimedSeconds = share.seconds * stretch.fraction;
        const missedSeconds = share.seconds - claimedSeconds;
        this.#spans.addEnergy(span.row, claimedSeconds * stretch.powerWatts);
        collector.add(span.activity.workload, claimedSeconds, stretch.powerWatts);
        // Time its own workload took is not lost to it: that energy is already in its series.
        if (missedSeconds > 0 && stretch.takenBy !== key) {
          lose(span, missedSeconds);
          this.#truncatedJoules += missedSeconds * stretch.powerWatts;
        }
        if (claimedSeconds > 0) takenBy = joinTaker(takenBy, key);
      }
      collector.drainInto(this.#claimed);
      // Time a claimant covers is taken now; time none covers keeps its idle.
      for (const piece of idle) {
        const untouched = piece.fraction > 0;
        const pieceTakenBy = untouched ? stretch.takenBy : takenBy;
        pushMerged(kept, {
          startMs: piece.startMs,
          endMs: piece.endMs,
          powerWatts: stretch.powerWatts,
          fraction: untouched ? stretch.fraction : 0,
          ...(pieceTakenBy !== undefined && { takenBy: pieceTakenBy }),
        });
      }
    }
    book.provisional = kept;
  }

  /** Spans that no pending interval can still touch are done: report their requests, drop them. */
  #finishSpans(): RequestEnergy[] {
    let oldestPendingMs = this.#closedUntilMs;
    for (const book of this.#devices.values()) for (const interval of book.pending) oldestPendingMs = Math.min(oldestPendingMs, interval.startMs);
    const done: RequestEnergy[] = [];
    this.#spans.finish(oldestPendingMs, (request, energyJoules) => done.push({ request, energyJoules }));
    return done;
  }
}
