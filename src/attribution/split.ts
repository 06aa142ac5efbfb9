// Splits one device interval's time among the activities that overlap it.
//
// Power is taken as constant within an interval (it is one counter delta), so splitting time splits
// energy. At each instant the time goes to the highest tier that has someone active:
//   1. spans and windows, shared by weight;
//   2. pods that own the device (no `fraction`), shared by weight;
//   3. pods with a CPU-time `fraction`, each its fraction (scaled down if they add up past 1);
// and whatever no tier takes is idle. Each activity's seconds are w * (G(end) - G(start)) where
// G accumulates segmentLength / totalActiveWeight, which keeps the sweep O(n log n) in activities.
import type { Activity } from './activity.ts';

export interface TimeShare {
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

function tierOf(activity: Activity): Tier {
  if (activity.source !== 'pod') return 0;
  return activity.fraction === undefined ? 1 : 2;
}

function weightOf(activity: Activity): number {
  if (activity.source === 'pod' && activity.fraction !== undefined) return Math.min(Math.max(activity.fraction, 0), 1);
  const weight = activity.weight ?? 1;
  return Number.isFinite(weight) && weight > 0 ? weight : 0;
}

export function splitInterval(startMs: number, endMs: number, activities: Activity[]): IntervalSplit {
  const clipped = activities
    .map((activity) => ({
      activity,
      tier: tierOf(activity),
      weight: weightOf(activity),
      fromMs: Math.max(activity.startMs, startMs),
      toMs: Math.min(activity.endMs, endMs),
    }))
    .filter((entry) => entry.toMs > entry.fromMs && entry.weight > 0);

  const deltas = new Map<number, [number, number, number]>();
  const delta = (timeMs: number) => {
    let entry = deltas.get(timeMs);
    if (!entry) deltas.set(timeMs, (entry = [0, 0, 0]));
    return entry;
  };
  delta(startMs);
  delta(endMs);
  for (const entry of clipped) {
    delta(entry.fromMs)[entry.tier] += entry.weight;
    delta(entry.toMs)[entry.tier] -= entry.weight;
  }
  const times = [...deltas.keys()].sort((a, b) => a - b);

  // G per tier at each breakpoint, in seconds per unit weight.
  const accumulated = new Map<number, [number, number, number]>();
  const active: [number, number, number] = [0, 0, 0];
  const integral: [number, number, number] = [0, 0, 0];
  let takenSeconds = 0;
  const idle: IdleStretch[] = [];
  const addIdle = (fromMs: number, toMs: number, fraction: number) => {
    const last = idle[idle.length - 1];
    if (last && last.fraction === fraction && last.endMs === fromMs) last.endMs = toMs;
    else idle.push({ startMs: fromMs, endMs: toMs, fraction });
  };
  for (let index = 0; index < times.length; index++) {
    const timeMs = times[index]!;
    accumulated.set(timeMs, [integral[0], integral[1], integral[2]]);
    const change = deltas.get(timeMs)!;
    for (const tier of [0, 1, 2] as const) active[tier] += change[tier];
    const next = times[index + 1];
    if (next === undefined) break;
    const seconds = (next - timeMs) / 1000;
    // Float sums of weights can leave 1e-16 residues after every activity ended.
    const present = (tier: Tier) => active[tier] > 1e-12;
    if (present(0)) {
      integral[0] += seconds / active[0];
      takenSeconds += seconds;
      addIdle(timeMs, next, 0);
    } else if (present(1)) {
      integral[1] += seconds / active[1];
      takenSeconds += seconds;
      addIdle(timeMs, next, 0);
    } else if (present(2)) {
      const scale = Math.max(1, active[2]);
      integral[2] += seconds / scale;
      takenSeconds += seconds * Math.min(active[2], 1);
      addIdle(timeMs, next, 1 - Math.min(active[2], 1));
    } else {
      addIdle(timeMs, next, 1);
    }
  }

  const shares = clipped.map((entry) => {
    const from = accumulated.get(entry.fromMs)![entry.tier];
    const to = accumulated.get(entry.toMs)![entry.tier];
    return { activity: entry.activity, seconds: entry.weight * (to - from) };
  });
  const totalSeconds = (endMs - startMs) / 1000;
  return { shares, idleSeconds: Math.max(0, totalSeconds - takenSeconds), idle };
}
