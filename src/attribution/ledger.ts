// The ledger: keeps each device's recent energy intervals and, once an interval is older than the
// attribution lag, splits its energy among the activities that overlap it. An OTel SDK exports a span
// only when it ends, so a long request arrives after its first intervals were split: the idle part of
// a closed interval therefore stays provisional for the attribution horizon, a span that arrives later
// claims from it, and idle is published only when the horizon passes. Conservation holds by
// construction: every interval's joules are either published (to activities or idle) or unsettled
// (a pending interval or provisional idle), and the unsettled joules are reported per device.
// Fairness between clients: time is shared by sender first (see split.ts), and the intervals of a
// device that spans of several senders cover wait for the claim window instead of the lag, so a
// client that sends first does not take a long request's time before that request's span arrives.
import type { EnergyInterval } from '../energy/meter.ts';
import type { Activity, ActivityProvider, ActivitySink, IngestOutcome, RequestRecord, ShareFootprint, SpanActivity, Workload } from './activity.ts';
import { type Claims, claimStretches, coarsen, joinTaker, type ProvisionalIdle, pushMerged, unclaimedJoules } from './provisional-idle.ts';
import { SenderIds } from './sender-shares.ts';
import { SpanTable } from './span-table.ts';
import { addActivity, addColumn, emptyColumns, SPAN_TIER, splitColumns } from './split.ts';
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
  /** What that energy cost, summed over the shares it came in (when the ledger prices spans). */
  footprint?: ShareFootprint;
}

/** Prices one share of one device's energy: what the pipeline's accountant makes of it. */
export type PriceShare = (share: Omit<AttributedEnergy, 'workload'>) => ShareFootprint;

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
  /**
   * How long the intervals of a contested device (spans of two or more senders within the horizon)
   * wait instead of lagMs, so the spans of every sender that ran then share them; held within
   * [lagMs, horizonMs]. Default: lagMs.
   */
  claimWindowMs?: number;
  providers: ActivityProvider[];
  /** Prices every share each span gets, so its request carries grams and cost (for trace export); none: energy only. */
  priceShare?: PriceShare;
}

interface DeviceBook {
  pending: EnergyInterval[];
  /** Closed time still held, in time order, adjacent alike stretches merged, at most MAX_STRETCHES_PER_DEVICE. */
  provisional: ProvisionalIdle[];
  /** Where the device's first interval started: no energy was measured before. */
  measuredFromMs: number;
  /** Everything before this was settled: its idle is published and no span can claim it any more. */
  settledUntilMs: number;
  /** Senders of spans for this device (key '' for none) and when last seen; two or more: contested. */
  senders: Map<string, number>;
}

/** Provisional stretches kept per device; past it neighbours merge (joules kept). 4096 is ~150 ms resolution over the 10 min horizon. */
const MAX_STRETCHES_PER_DEVICE = 4096;

/** Late claims one addSpans call (one export) may make; the spans past it claim nothing and are truncated. */
export const MAX_LATE_CLAIMS_PER_REQUEST = 2048;

/** Senders remembered per device: two already make it contested, the rest only keep it so. */
const MAX_SENDERS_PER_DEVICE = 64;

/** Device time below this (seconds) a span may miss without being reported truncated: float residue. */
const LOST_SECONDS_EPSILON = 1e-9;

function appliesTo(deviceIds: string[] | undefined, deviceId: string): boolean {
  return deviceIds === undefined || deviceIds.includes(deviceId);
}

function secondsOf(range: { startMs: number; endMs: number }): number {
  return (range.endMs - range.startMs) / 1000;
}

/** Sums shares per workload on one device; each share's range covers the ranges it was given for. */
class ShareCollector {
  readonly #byWorkload = new Map<string, AttributedEnergy>();
  readonly #deviceId: string;

  constructor(deviceId: string) {
    this.#deviceId = deviceId;
  }

  add(workload: Workload, seconds: number, joules: number, startMs: number, endMs: number): void {
    if (seconds <= 0) return;
    const key = workloadKey(workload);
    const existing = this.#byWorkload.get(key);
    if (existing) {
      existing.deviceSeconds += seconds;
      existing.energyJoules += joules;
      existing.startMs = Math.min(existing.startMs, startMs);
      existing.endMs = Math.max(existing.endMs, endMs);
    } else {
      this.#byWorkload.set(key, { deviceId: this.#deviceId, workload, startMs, endMs, energyJoules: joules, deviceSeconds: seconds });
    }
  }

  /** The one workload key that took time here, MIXED for several, undefined for none. */
  get taker(): string | undefined {
    let taker: string | undefined;
    for (const key of this.#byWorkload.keys()) taker = joinTaker(taker, key);
    return taker;
  }

  drainInto(out: AttributedEnergy[]): void {
    out.push(...this.#byWorkload.values());
  }
}

export class Ledger implements ActivitySink {
  readonly #options: LedgerOptions;
  readonly #claimWindowMs: number;
  readonly #devices = new Map<string, DeviceBook>();
  readonly #spans: SpanTable;
  /** Shares late spans claimed since the last close, published with it. */
  #claimed: AttributedEnergy[] = [];
  #truncatedJoules = 0;
  #closedUntilMs = -Infinity;
  /** `nowMs` of the last close: when senders were last seen. */
  #lastCloseMs = -Infinity;

  constructor(options: LedgerOptions) {
    this.#options = options;
    this.#spans = new SpanTable({ footprints: options.priceShare !== undefined });
    this.#claimWindowMs = Math.min(Math.max(options.claimWindowMs ?? options.lagMs, options.lagMs), options.horizonMs);
  }

  get pendingIntervals(): number {
    let count = 0;
    for (const book of this.#devices.values()) count += book.pending.length;
    return count;
  }

  addInterval(interval: EnergyInterval): void {
    let book = this.#devices.get(interval.deviceId);
    if (!book) {
      book = { pending: [], provisional: [], measuredFromMs: interval.startMs, settledUntilMs: -Infinity, senders: new Map() };
      this.#devices.set(interval.deviceId, book);
    }
    book.pending.push(interval);
  }

  /**
   * Takes finished spans. Each claims, from the provisional idle of closed intervals it overlaps, the
   * time nobody took (spans of one call share it by sender, then weight); the rest of its range is
   * split when its intervals close. A span that misses device time (settled, or taken by other
   * workloads) is `truncated`.
   */
  addSpans(spans: SpanActivity[]): IngestOutcome[] {
    const rows = spans.map((span) => this.#spans.push(span));
    const truncated = new Uint8Array(spans.length);
    for (const { activity } of spans) {
      for (const [deviceId, book] of this.#devices) if (appliesTo(activity.deviceIds, deviceId)) this.#noteSender(book, activity.senderKey ?? '');
    }
    // Only spans that start before the closed time ends can claim; the first few of one export do.
    const late: number[] = [];
    spans.forEach((span, index) => {
      if (span.activity.startMs >= this.#closedUntilMs) return;
      if (late.length < MAX_LATE_CLAIMS_PER_REQUEST) late.push(index);
      else truncated[index] = 1;
    });
    if (late.length > 0) for (const [deviceId, book] of this.#devices) this.#claim(deviceId, book, spans, rows, late, truncated);
    return spans.map((_, index) => (truncated[index] ? 'truncated' : 'accepted'));
  }

  /**
   * Closes every interval that ended at least `lagMs` (on a contested device, the claim window)
   * before `nowMs`; settles idle older than the horizon.
   */
  close(nowMs: number): LedgerClose {
    const cutoffMs = nowMs - this.#options.lagMs;
    const settleBeforeMs = nowMs - this.#options.horizonMs;
    const shares = this.#claimed;
    this.#claimed = [];
    const unsettledJoules = new Map<string, number>();
    for (const [deviceId, book] of this.#devices) {
      for (const [sender, seenMs] of book.senders) if (seenMs < settleBeforeMs) book.senders.delete(sender);
      const deviceCutoffMs = book.senders.size > 1 ? nowMs - this.#claimWindowMs : cutoffMs;
      const open: EnergyInterval[] = [];
      for (const interval of book.pending) {
        if (interval.endMs <= deviceCutoffMs) this.#split(interval, book, shares);
        else open.push(interval);
      }
      book.pending = open;
      this.#settle(deviceId, book, settleBeforeMs, shares);
      book.provisional = coarsen(book.provisional, MAX_STRETCHES_PER_DEVICE);
      let joules = 0;
      for (const interval of book.pending) joules += interval.energyJoules;
      for (const stretch of book.provisional) joules += unclaimedJoules(stretch);
      unsettledJoules.set(deviceId, joules);
    }
    if (cutoffMs > this.#closedUntilMs) this.#closedUntilMs = cutoffMs;
    this.#lastCloseMs = Math.max(this.#lastCloseMs, nowMs);
    const truncatedJoules = this.#truncatedJoules;
    this.#truncatedJoules = 0;
    return { shares, requests: this.#finishSpans(), unsettledJoules, truncatedJoules };
  }

  #split(interval: EnergyInterval, book: DeviceBook, out: AttributedEnergy[]): void {
    const pulled = this.#options.providers.flatMap((provider) => provider.activitiesBetween(interval.startMs, interval.endMs));
    const spans = this.#spans;
    const columns = emptyColumns(spans.rows + pulled.length);
    const senders = new SenderIds();
    // Which span row each column is (-1: a pulled activity, kept in `pulledAt`).
    const rowAt = new Int32Array(columns.tier.length);
    const pulledAt: Activity[] = [];
    for (let row = 0; row < spans.rows; row++) {
      if (!appliesTo(spans.deviceIds(row), interval.deviceId)) continue;
      const sender = senders.idOf(spans.senderKey(row));
      const index = addColumn(columns, SPAN_TIER, spans.weight(row), sender, spans.startMs(row), spans.endMs(row), interval.startMs, interval.endMs);
      if (index >= 0) rowAt[index] = row;
    }
    for (const activity of pulled) {
      if (!appliesTo(activity.deviceIds, interval.deviceId)) continue;
      const index = addActivity(columns, activity, senders, interval.startMs, interval.endMs);
      if (index >= 0) {
        rowAt[index] = -1;
        pulledAt[index] = activity;
      }
    }

    const { seconds, idle } = splitColumns(interval.startMs, interval.endMs, columns);
    const powerWatts = interval.energyJoules / secondsOf(interval);
    const collector = new ShareCollector(interval.deviceId);
    for (let index = 0; index < columns.count; index++) {
      const row = rowAt[index]!;
      const shareSeconds = seconds[index]!;
      const workload = row < 0 ? pulledAt[index]!.workload : spans.workload(row);
      collector.add(workload, shareSeconds, shareSeconds * powerWatts, interval.startMs, interval.endMs);
      if (row < 0) continue;
      spans.addEnergy(row, shareSeconds * powerWatts);
      const price = this.#options.priceShare;
      if (price && shareSeconds > 0) {
        const share = {
          deviceId: interval.deviceId,
          startMs: interval.startMs,
          endMs: interval.endMs,
          energyJoules: shareSeconds * powerWatts,
          deviceSeconds: shareSeconds,
        };
        spans.addFootprint(row, price(share));
      }
    }
    const takenBy = collector.taker;
    collector.drainInto(out);
    for (const stretch of idle) {
      pushMerged(book.provisional, { ...stretch, powerWatts, lostFraction: 0, ...(takenBy !== undefined && stretch.fraction < 1 && { takenBy }) });
    }
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

  /**
   * Lets the `late` spans (indices into `spans`, rows in the span table) take the provisional idle
   * of `deviceId` they overlap, and marks those that miss time others took or that was settled.
   */
  #claim(deviceId: string, book: DeviceBook, spans: SpanActivity[], rows: number[], late: number[], truncated: Uint8Array): void {
    const closedEndMs = Math.max(book.settledUntilMs, book.provisional[book.provisional.length - 1]?.endMs ?? -Infinity);
    const claiming = late.filter((index) => spans[index]!.activity.startMs < closedEndMs && appliesTo(spans[index]!.activity.deviceIds, deviceId));
    if (claiming.length === 0) return;
    const senders = new SenderIds();
    const claims: Claims = {
      count: claiming.length,
      fromMs: new Float64Array(claiming.length),
      toMs: new Float64Array(claiming.length),
      weight: new Float64Array(claiming.length),
      sender: new Uint32Array(claiming.length),
      senderCount: 0,
      key: [],
    };
    claiming.forEach((index, claim) => {
      const { activity } = spans[index]!;
      // Settled time is gone: its idle was published. Its power is no longer known, so only the time counts.
      const settledMs = Math.min(activity.endMs, book.settledUntilMs) - Math.max(activity.startMs, book.measuredFromMs);
      if (settledMs / 1000 > LOST_SECONDS_EPSILON) truncated[index] = 1;
      const row = rows[index]!;
      claims.fromMs[claim] = activity.startMs;
      claims.toMs[claim] = Math.max(activity.startMs, activity.endMs);
      claims.weight[claim] = this.#spans.weight(row);
      claims.sender[claim] = senders.idOf(activity.senderKey);
      claims.key.push(workloadKey(activity.workload));
    });
    claims.senderCount = senders.count;
    const result = claimStretches(book.provisional, claims);
    book.provisional = coarsen(result.stretches, MAX_STRETCHES_PER_DEVICE);
    this.#truncatedJoules += result.lostJoules;
    const collector = new ShareCollector(deviceId);
    claiming.forEach((index, claim) => {
      if (result.lost[claim]) truncated[index] = 1;
      const joules = result.energyJoules[claim]!;
      this.#spans.addEnergy(rows[index]!, joules);
      const price = this.#options.priceShare;
      if (price && result.deviceSeconds[claim]! > 0) {
        const share = {
          deviceId,
          startMs: result.takenFromMs[claim]!,
          endMs: result.takenToMs[claim]!,
          energyJoules: joules,
          deviceSeconds: result.deviceSeconds[claim]!,
        };
        this.#spans.addFootprint(rows[index]!, price(share));
      }
      collector.add(spans[index]!.activity.workload, result.deviceSeconds[claim]!, joules, result.takenFromMs[claim]!, result.takenToMs[claim]!);
    });
    collector.drainInto(this.#claimed);
  }

  #noteSender(book: DeviceBook, sender: string): void {
    if (book.senders.has(sender) || book.senders.size < MAX_SENDERS_PER_DEVICE) book.senders.set(sender, this.#lastCloseMs);
  }

  /** Spans that no pending interval can still touch are done: report their requests, drop them. */
  #finishSpans(): RequestEnergy[] {
    let oldestPendingMs = this.#closedUntilMs;
    for (const book of this.#devices.values()) for (const interval of book.pending) oldestPendingMs = Math.min(oldestPendingMs, interval.startMs);
    const done: RequestEnergy[] = [];
    this.#spans.finish(oldestPendingMs, (request, energyJoules, footprint) =>
      done.push(footprint ? { request, energyJoules, footprint } : { request, energyJoules }),
    );
    return done;
  }
}
