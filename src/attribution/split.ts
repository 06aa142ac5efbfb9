// Splits one device interval's time among the activities that overlap it.
//
// Power is taken as constant within an interval (it is one counter delta), so splitting time splits
// energy. At each instant the time goes to the highest tier that has someone active:
//   1. spans and windows, shared by sender (each sender active at the instant an equal share), and
//      a sender's share among its activities by weight;
//   2. pods that own the device (no `fraction`), shared by weight;
//   3. pods with a CPU-time `fraction`, each its fraction (scaled down if they add up past 1);
// and whatever no tier takes is idle. Each activity's seconds are w * (G(end) - G(start)) where
// G accumulates segmentLength / totalActiveWeight (tier 1: / (activeSenders x senderWeight)), which
// keeps the sweep O(n log n) in activities.
import type { Activity } from './activity.ts';
import { eventOrder, SenderIds, SenderShares } from './sender-shares.ts';

interface TimeShare {
  activity: Activity;
  seconds: number;
}

/** A stretch of the interval where `fraction` (0..1) of the device's time went to nobody. */
export interface IdleStretch {
  startMs: number;
  endMs: number;
  fraction: number;
}

export interface IntervalSplit {
  shares: TimeShare[];
  idleSeconds: number;
  /** Where the idle time lies, covering the whole interval (fraction 0 where someone took all of it). */
  idle: IdleStretch[];
}

type Tier = 0 | 1 | 2;

/** The tier of spans and windows. */
export const SPAN_TIER: Tier = 0;

function tierOf(activity: Pick<Activity, 'source' | 'fraction'>): Tier {
  if (activity.source !== 'pod') return 0;
  return activity.fraction === undefined ? 1 : 2;
}

function weightOf(activity: Pick<Activity, 'source' | 'weight' | 'fraction'>): number {
  if (activity.source === 'pod' && activity.fraction !== undefined) return Math.min(Math.max(activity.fraction, 0), 1);
  return activity.weight ?? 1;
}

/**
 * The activities of one split as columns, already clipped to the interval: the ledger fills them from
 * its span table, so a split among 100 000 spans allocates a few arrays, not an object per span.
 */
export interface SplitColumns {
  count: number;
  tier: Uint8Array;
  weight: Float64Array;
  /** Sender id (`SenderIds`): spans and windows share their tier's time by sender first. */
  sender: Uint32Array;
  fromMs: Float64Array;
  toMs: Float64Array;
}

export function emptyColumns(count: number): SplitColumns {
  return {
    count: 0,
    tier: new Uint8Array(count),
    weight: new Float64Array(count),
    sender: new Uint32Array(count),
    fromMs: new Float64Array(count),
    toMs: new Float64Array(count),
  };
}

/**
 * Appends an activity of `tier`, `weight` and `sender` over [activityStartMs, activityEndMs) clipped
 * to the interval [startMs, endMs); returns its index, or -1 when it takes no time there.
 */
export function addColumn(
  columns: SplitColumns,
  tier: Tier,
  weight: number,
  sender: number,
  activityStartMs: number,
  activityEndMs: number,
  startMs: number,
  endMs: number,
): number {
  const fromMs = Math.max(activityStartMs, startMs);
  const toMs = Math.min(activityEndMs, endMs);
  if (!(toMs > fromMs && Number.isFinite(weight) && weight > 0)) return -1;
  const index = columns.count++;
  columns.tier[index] = tier;
  columns.weight[index] = weight;
  columns.sender[index] = sender;
  columns.fromMs[index] = fromMs;
  columns.toMs[index] = toMs;
  return index;
}

export function addActivity(columns: SplitColumns, activity: Activity, senders: SenderIds, startMs: number, endMs: number): number {
  return addColumn(columns, tierOf(activity), weightOf(activity), senders.idOf(activity.senderKey), activity.startMs, activity.endMs, startMs, endMs);
}

/** Splits [startMs, endMs) among the columns; `seconds[i]` is what column i got. */
export function splitColumns(startMs: number, endMs: number, columns: SplitColumns): { seconds: Float64Array; idleSeconds: number; idle: IdleStretch[] } {
  const { count } = columns;
  let senderCount = 1;
  for (let index = 0; index < count; index++) senderCount = Math.max(senderCount, columns.sender[index]! + 1);
  // Spans and windows share by sender, then weight; the pod tiers keep G per tier, seconds per unit weight.
  const spanTier = new SenderShares(senderCount, 1);
  const active: [number, number, number] = [0, 0, 0];
  const integral: [number, number, number] = [0, 0, 0];
  const integralAtStart = new Float64Array(count);
  const seconds = new Float64Array(count);
  let takenSeconds = 0;
  const idle: IdleStretch[] = [];
  const addIdle = (fromMs: number, toMs: number, fraction: number) => {
    if (toMs <= fromMs) return;
    const last = idle[idle.length - 1];
    if (last && last.fraction === fraction && last.endMs === fromMs) last.endMs = toMs;
    else idle.push({ startMs: fromMs, endMs: toMs, fraction });
  };
  // Float sums of weights can leave 1e-16 residues after every activity ended.
  const present = (tier: Tier) => active[tier] > 1e-12;
  const pass = (fromMs: number, toMs: number) => {
    if (toMs <= fromMs) return;
    const segmentSeconds = (toMs - fromMs) / 1000;
    if (spanTier.activeSenders > 0) {
      spanTier.advance(segmentSeconds);
      takenSeconds += segmentSeconds;
      addIdle(fromMs, toMs, 0);
    } else if (present(1)) {
      integral[1] += segmentSeconds / active[1];
      takenSeconds += segmentSeconds;
      addIdle(fromMs, toMs, 0);
    } else if (present(2)) {
      integral[2] += segmentSeconds / Math.max(1, active[2]);
      takenSeconds += segmentSeconds * Math.min(active[2], 1);
      addIdle(fromMs, toMs, 1 - Math.min(active[2], 1));
    } else {
      addIdle(fromMs, toMs, 1);
    }
  };

  let cursorMs = startMs;
  for (const event of eventOrder(count, columns.fromMs, columns.toMs)) {
    const starts = event < count;
    const index = starts ? event : event - count;
    const timeMs = starts ? columns.fromMs[index]! : columns.toMs[index]!;
    pass(cursorMs, timeMs);
    cursorMs = timeMs;
    const tier = columns.tier[index]! as Tier;
    const weight = columns.weight[index]!;
    const sender = columns.sender[index]!;
    const now = tier === SPAN_TIER ? spanTier.integral(sender, 0) : integral[tier];
    if (starts) integralAtStart[index] = now;
    else seconds[index] = weight * (now - integralAtStart[index]!);
    if (tier === SPAN_TIER) spanTier.change(sender, starts ? weight : -weight);
    else active[tier] += starts ? weight : -weight;
  }
  pass(cursorMs, endMs);
  const totalSeconds = (endMs - startMs) / 1000;
  return { seconds, idleSeconds: Math.max(0, totalSeconds - takenSeconds), idle };
}

export function splitInterval(startMs: number, endMs: number, activities: Activity[]): IntervalSplit {
  const columns = emptyColumns(activities.length);
  const senders = new SenderIds();
  const taking: Activity[] = [];
  for (const activity of activities) if (addActivity(columns, activity, senders, startMs, endMs) >= 0) taking.push(activity);
  const { seconds, idleSeconds, idle } = splitColumns(startMs, endMs, columns);
  return { shares: taking.map((activity, index) => ({ activity, seconds: seconds[index]! })), idleSeconds, idle };
}
