// The cap on provisional stretches (issue 19, F5): tiny late spans fragment a device's idle into
// many stretches; past the cap (MAX_STRETCHES_PER_DEVICE) neighbours merge, and no joule may be lost or made.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SpanActivity } from '../../src/attribution/activity.ts';
import { Ledger } from '../../src/attribution/ledger.ts';
import { coarsen, type ProvisionalIdle, unclaimedJoules } from '../../src/attribution/provisional-idle.ts';

const relativeError = (actual: number, expected: number) => Math.abs(actual - expected) / Math.max(1, Math.abs(expected));

describe('coarsen', () => {
  it('keeps the device joules, the unclaimed joules and the counted lost joules exactly (1e-9 relative), within the cap (property)', () => {
    const stretchArb = fc.record({
      lengthMs: fc.double({ min: 0.001, max: 5000, noNaN: true }),
      gapMs: fc.constantFrom(0, 0, 0, 0, 10),
      powerWatts: fc.constantFrom(0, 0.5, 100, 700, 1e-3),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
      lostShare: fc.double({ min: 0, max: 1, noNaN: true }),
      takenBy: fc.constantFrom(undefined, 'a', 'b'),
    });
    fc.assert(
      fc.property(fc.array(stretchArb, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (specs, limit) => {
        let clockMs = 0;
        const stretches: ProvisionalIdle[] = specs.map((spec) => {
          const startMs = clockMs + spec.gapMs;
          clockMs = startMs + spec.lengthMs;
          const stretch: ProvisionalIdle = {
            startMs,
            endMs: clockMs,
            powerWatts: spec.powerWatts,
            fraction: spec.fraction,
            lostFraction: spec.lostShare * (1 - spec.fraction),
          };
          if (spec.takenBy !== undefined) stretch.takenBy = spec.takenBy;
          return stretch;
        });
        const totals = (list: ProvisionalIdle[]) => ({
          device: list.reduce((sum, stretch) => sum + ((stretch.endMs - stretch.startMs) / 1000) * stretch.powerWatts, 0),
          unclaimed: list.reduce((sum, stretch) => sum + unclaimedJoules(stretch), 0),
          lost: list.reduce((sum, stretch) => sum + ((stretch.endMs - stretch.startMs) / 1000) * stretch.lostFraction * stretch.powerWatts, 0),
          seconds: list.reduce((sum, stretch) => sum + (stretch.endMs - stretch.startMs) / 1000, 0),
        });
        const before = totals(stretches);
        const merged = coarsen(
          stretches.map((stretch) => ({ ...stretch })),
          limit,
        );
        const after = totals(merged);
        expect(relativeError(after.device, before.device)).toBeLessThanOrEqual(1e-9);
        expect(relativeError(after.unclaimed, before.unclaimed)).toBeLessThanOrEqual(1e-9);
        expect(relativeError(after.lost, before.lost)).toBeLessThanOrEqual(1e-9);
        expect(relativeError(after.seconds, before.seconds)).toBeLessThanOrEqual(1e-9);
        const gaps = specs.slice(1).filter((spec) => spec.gapMs > 0).length;
        // Only gaps (time nobody measured) are never merged over.
        expect(merged.length).toBeLessThanOrEqual(Math.max(limit, gaps + 1));
        for (const stretch of merged) {
          expect(stretch.fraction).toBeGreaterThanOrEqual(0);
          expect(stretch.fraction).toBeLessThanOrEqual(1);
          expect(stretch.lostFraction).toBeLessThanOrEqual(1 - stretch.fraction + 1e-12);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('conserves every joule in the ledger while 40,000 tiny late spans fragment the idle past the cap', () => {
    const ledger = new Ledger({ lagMs: 1000, horizonMs: 600_000, providers: [] });
    let measuredJoules = 0;
    let attributedJoules = 0;
    let spanJoules = 0;
    let idleJoules = 0;
    let unsettledJoules = 0;
    const tally = (closed: ReturnType<Ledger['close']>) => {
      for (const share of closed.shares) {
        attributedJoules += share.energyJoules;
        if (share.workload.phase === 'idle') idleJoules += share.energyJoules;
      }
      for (const done of closed.requests) spanJoules += done.energyJoules;
      unsettledJoules = closed.unsettledJoules.get('GPU-1')!;
      expect(relativeError(attributedJoules + unsettledJoules, measuredJoules)).toBeLessThanOrEqual(1e-9);
    };
    for (let second = 0; second < 60; second++) {
      // Power varies per interval, so merged stretches average different powers.
      const energyJoules = 100 + ((second * 37) % 11) * 13.7;
      measuredJoules += energyJoules;
      ledger.addInterval({ deviceId: 'GPU-1', startMs: second * 1000, endMs: (second + 1) * 1000, energyJoules });
    }
    tally(ledger.close(61_000));
    for (let request = 0; request < 4; request++) {
      const spans: SpanActivity[] = Array.from({ length: 10_000 }, (_, index) => {
        // 0.2 ms spans at 1.5 ms steps, shifted per request: every span cuts the idle into more stretches.
        const startMs = index * 5.9 + request * 1.37;
        const activity = { source: 'span' as const, workload: { model: `m${index % 7}` }, startMs, endMs: startMs + 0.2 };
        return { activity, request: { workload: activity.workload, startMs, endMs: activity.endMs } };
      });
      ledger.addSpans(spans);
      tally(ledger.close(62_000 + request));
    }
    tally(ledger.close(700_000));
    expect(unsettledJoules).toBe(0);
    expect(relativeError(attributedJoules, measuredJoules)).toBeLessThanOrEqual(1e-9);
    // What the spans' requests report is exactly what their workloads were given, every other joule is
    // idle, and the spans got no more than their 8 s of device time at the highest interval power.
    expect(relativeError(spanJoules, attributedJoules - idleJoules)).toBeLessThanOrEqual(1e-9);
    expect(spanJoules).toBeLessThanOrEqual(40_000 * 0.0002 * (100 + 10 * 13.7) * (1 + 1e-9));
  });
});
