// A device's provisional idle: the time of closed intervals nobody took, kept as stretches until the
// attribution horizon so late spans can claim it. Claims are one sweep over the stretches and the
// claimants' start and end events, O((stretches + claims) log claims), shared by sender then weight
// as in an interval split. Stretches per device are capped: past the cap, neighbours are merged
// with their joules (and their counted lost joules) kept exactly, so fragmenting claims cannot grow
// the ledger or slow the next claim.
import { eventOrder, SenderShares } from './sender-shares.ts';

/** Idle time of a closed interval, claimable by late spans until the horizon passes. */
export interface ProvisionalIdle {
  startMs: number;
  endMs: number;
  /** Mean power over the stretch (the interval's energy over its duration; a merged stretch's mean). */
  powerWatts: number;
  /** Share of the device's time in the range that nobody took (0..1); 0 is kept so lost joules are known. */
  fraction: number;
  /**
   * The workload key that took the rest of the range when exactly one did (MIXED when several, absent
   * when nobody did). A late span of that same workload that misses this time is not truncated: the
   * energy already went to its workload, only to an earlier request of it.
   */
  takenBy?: string;
  /** Share of the time (<= 1 - fraction) whose joules were already counted as truncated, so a re-sent span counts nothing twice. */
  lostFraction: number;
}

/** `takenBy` of a range that several workloads took. */
const MIXED = '\u0000mixed';

/** Who took a range once `key` takes part of it too. */
export function joinTaker(takenBy: string | undefined, key: string): string {
  return takenBy === undefined || takenBy === key ? key : MIXED;
}

/** A taken share below this is float residue, not time another workload took. */
const TAKEN_EPSILON = 1e-12;

function sameKind(a: ProvisionalIdle, b: ProvisionalIdle): boolean {
  return a.powerWatts === b.powerWatts && a.fraction === b.fraction && a.takenBy === b.takenBy && a.lostFraction === b.lostFraction;
}

/** Appends `stretch`, extending the last one instead when they touch and are alike. */
export function pushMerged(stretches: ProvisionalIdle[], stretch: ProvisionalIdle): void {
  if (stretch.endMs <= stretch.startMs) return;
  const last = stretches[stretches.length - 1];
  if (last && last.endMs === stretch.startMs && sameKind(last, stretch)) last.endMs = stretch.endMs;
  else stretches.push(stretch);
}

export function unclaimedJoules(stretch: ProvisionalIdle): number {
  return ((stretch.endMs - stretch.startMs) / 1000) * stretch.fraction * stretch.powerWatts;
}

/**
 * One stretch for two that touch: its power the time-weighted mean (the device's joules kept), its
 * fraction such that the unclaimed joules are kept, and its lost fraction such that the joules
 * already counted lost are kept. The cost is resolution: a claim on part of it gets the mean.
 */
function merge(a: ProvisionalIdle, b: ProvisionalIdle): ProvisionalIdle {
  const aSeconds = (a.endMs - a.startMs) / 1000;
  const bSeconds = (b.endMs - b.startMs) / 1000;
  const seconds = aSeconds + bSeconds;
  const deviceJoules = a.powerWatts * aSeconds + b.powerWatts * bSeconds;
  const powerWatts = deviceJoules / seconds;
  // At zero power every share is zero joules: keep the time-weighted shares instead.
  const share = (of: (stretch: ProvisionalIdle) => number) =>
    deviceJoules > 0 ? (of(a) * a.powerWatts * aSeconds + of(b) * b.powerWatts * bSeconds) / deviceJoules : (of(a) * aSeconds + of(b) * bSeconds) / seconds;
  const fraction = Math.min(
    1,
    share((stretch) => stretch.fraction),
  );
  const lostFraction = Math.min(
    1 - fraction,
    share((stretch) => stretch.lostFraction),
  );
  const takers = [a, b].filter((stretch) => stretch.fraction < 1).map((stretch) => stretch.takenBy ?? MIXED);
  const takenBy = takers.reduce<string | undefined>(joinTaker, undefined);
  return { startMs: a.startMs, endMs: b.endMs, powerWatts, fraction, lostFraction, ...(takenBy !== undefined && { takenBy }) };
}

/** Halves `stretches` (merging touching pairs) until at most `limit` are left. */
export function coarsen(stretches: ProvisionalIdle[], limit: number): ProvisionalIdle[] {
  let current = stretches;
  while (current.length > limit) {
    const merged: ProvisionalIdle[] = [];
    for (let index = 0; index < current.length; index++) {
      const stretch = current[index]!;
      const next = current[index + 1];
      if (next && next.startMs === stretch.endMs) {
        merged.push(merge(stretch, next));
        index++;
      } else {
        merged.push(stretch);
      }
    }
    // Gaps everywhere (no two stretches touch): nothing more can merge without inventing time.
    if (merged.length === current.length) break;
    current = merged;
  }
  return current;
}

/** The late spans claiming one device's stretches, as columns (clipped by the caller where needed). */
export interface Claims {
  count: number;
  fromMs: Float64Array;
  toMs: Float64Array;
  weight: Float64Array;
  /** Sender ids, below `senderCount`. */
  sender: Uint32Array;
  senderCount: number;
  /** Workload key of each claim, for `takenBy` and truncation. */
  key: string[];
}

export interface ClaimResult {
  stretches: ProvisionalIdle[];
  energyJoules: Float64Array;
  deviceSeconds: Float64Array;
  /** The stretches each claim took from, as a range (NaN when it took nothing). */
  takenFromMs: Float64Array;
  takenToMs: Float64Array;
  /** 1 where the claim covers time that another workload took. */
  lost: Uint8Array;
  /** Joules of such time not counted before: each lost joule is counted once, however often it is claimed. */
  lostJoules: number;
}

/** Lets `claims` take the unclaimed time of `stretches`; returns the new stretches. */
export function claimStretches(stretches: readonly ProvisionalIdle[], claims: Claims): ClaimResult {
  const { count } = claims;
  const shares = new SenderShares(claims.senderCount, 2);
  const atStart = new Float64Array(count * 2);
  const energyJoules = new Float64Array(count);
  const deviceSeconds = new Float64Array(count);
  const takenFromMs = new Float64Array(count).fill(Number.NaN);
  const takenToMs = new Float64Array(count).fill(Number.NaN);
  const lost = new Uint8Array(count);
  // Per taking segment, the stretch it lies in; a claim took from segments [its start count, its end count).
  const takingStretchStart: number[] = [];
  const takingStretchEnd: number[] = [];
  const takingAtStart = new Uint32Array(count);
  // Segments of time others took, overall and by taker: a claim lost time when more passed than its own workload's.
  let lostSegments = 0;
  const lostSegmentsBy = new Map<string | undefined, number>();
  const lostAtStart = new Float64Array(count * 2);
  const activeKeys = new Map<string, number>();
  let lostJoules = 0;
  const out: ProvisionalIdle[] = [];

  const order = eventOrder(count, claims.fromMs, claims.toMs);
  let next = 0;
  const timeOf = (event: number) => (event < count ? claims.fromMs[event]! : claims.toMs[event - count]!);
  const apply = (event: number) => {
    const starts = event < count;
    const index = starts ? event : event - count;
    const sender = claims.sender[index]!;
    const weight = claims.weight[index]!;
    const key = claims.key[index]!;
    const joules = shares.integral(sender, 1);
    const seconds = shares.integral(sender, 0);
    const ownLost = lostSegmentsBy.get(key) ?? 0;
    if (starts) {
      atStart[index * 2] = seconds;
      atStart[index * 2 + 1] = joules;
      takingAtStart[index] = takingStretchStart.length;
      lostAtStart[index * 2] = lostSegments;
      lostAtStart[index * 2 + 1] = ownLost;
      activeKeys.set(key, (activeKeys.get(key) ?? 0) + 1);
    } else {
      deviceSeconds[index] = weight * (seconds - atStart[index * 2]!);
      energyJoules[index] = weight * (joules - atStart[index * 2 + 1]!);
      const first = takingAtStart[index]!;
      if (takingStretchStart.length > first) {
        takenFromMs[index] = takingStretchStart[first]!;
        takenToMs[index] = takingStretchEnd[takingStretchEnd.length - 1]!;
      }
      if (lostSegments - lostAtStart[index * 2]! > ownLost - lostAtStart[index * 2 + 1]!) lost[index] = 1;
      const left = activeKeys.get(key)! - 1;
      if (left === 0) activeKeys.delete(key);
      else activeKeys.set(key, left);
    }
    shares.change(sender, starts ? weight : -weight);
  };
  const soleKey = () => (activeKeys.size === 1 ? activeKeys.keys().next().value! : MIXED);

  for (const stretch of stretches) {
    let fromMs = stretch.startMs;
    while (fromMs < stretch.endMs) {
      while (next < order.length && timeOf(order[next]!) <= fromMs) apply(order[next++]!);
      const eventMs = next < order.length ? timeOf(order[next]!) : Number.POSITIVE_INFINITY;
      const toMs = Math.min(stretch.endMs, eventMs);
      const seconds = (toMs - fromMs) / 1000;
      const piece: ProvisionalIdle = { ...stretch, startMs: fromMs, endMs: toMs };
      const claimed = activeKeys.size > 0;
      const takenShare = 1 - stretch.fraction;
      if (takenShare > TAKEN_EPSILON) {
        lostSegments++;
        lostSegmentsBy.set(stretch.takenBy, (lostSegmentsBy.get(stretch.takenBy) ?? 0) + 1);
        const othersWant = activeKeys.size > 1 || (claimed && soleKey() !== stretch.takenBy);
        if (othersWant && takenShare > stretch.lostFraction) {
          lostJoules += (takenShare - stretch.lostFraction) * stretch.powerWatts * seconds;
          piece.lostFraction = takenShare;
        }
      }
      if (claimed && stretch.fraction > 0) {
        shares.advance(stretch.fraction * seconds, stretch.fraction * seconds * stretch.powerWatts);
        takingStretchStart.push(stretch.startMs);
        takingStretchEnd.push(stretch.endMs);
        piece.fraction = 0;
        piece.takenBy = joinTaker(stretch.takenBy, soleKey());
      }
      pushMerged(out, piece);
      fromMs = toMs;
    }
  }
  while (next < order.length) apply(order[next++]!);
  return { stretches: out, energyJoules, deviceSeconds, takenFromMs, takenToMs, lost, lostJoules };
}
