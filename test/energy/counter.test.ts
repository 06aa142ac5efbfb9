import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { counterDelta } from '../../src/energy/counter.ts';
import { trapezoidJoules } from '../../src/energy/integrate.ts';
import { EnergyMeter } from '../../src/energy/meter.ts';

const RAPL_WRAP_UJ = 262_143_328_850;

describe('counterDelta', () => {
  it('advances, wraps at the range and treats a drop without a range as a reset', () => {
    expect(counterDelta(100, 350)).toEqual({ deltaUnits: 250, event: 'advance' });
    expect(counterDelta(RAPL_WRAP_UJ - 1_000, 4_000, RAPL_WRAP_UJ)).toEqual({ deltaUnits: 5_000, event: 'wrap' });
    expect(counterDelta(9_000_000, 1_500)).toEqual({ deltaUnits: 1_500, event: 'reset' });
  });

  it('sums to the true energy for any sequence of increments with wraps (property)', () => {
    // RAPL's counter runs over [0, max_energy_range_uj): after a wrap, max - previous + current is exact.
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 1_000_000 }), fc.nat(), fc.array(fc.nat(), { maxLength: 200 }), (wrapAt, startSeed, seeds) => {
        let raw = startSeed % wrapAt;
        let total = 0;
        let truth = 0;
        for (const seed of seeds) {
          const step = seed % wrapAt;
          const next = (raw + step) % wrapAt;
          const { deltaUnits } = counterDelta(raw, next, wrapAt);
          expect(deltaUnits).toBeGreaterThanOrEqual(0);
          total += deltaUnits;
          truth += step;
          raw = next;
        }
        expect(total).toBe(truth);
      }),
    );
  });
});

describe('EnergyMeter', () => {
  it('turns RAPL counter readings into intervals of exact joules and a monotonic total across a wrap', () => {
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const read = (timeMs: number, value: number) => meter.add({ kind: 'counter', deviceId: 'rapl:package-0', timeMs, value, unitJoules: 1e-6, wrapAt: RAPL_WRAP_UJ });
    expect(read(0, RAPL_WRAP_UJ - 30_000_000)).toBeUndefined();
    expect(read(2000, RAPL_WRAP_UJ - 10_000_000)).toEqual({ deviceId: 'rapl:package-0', startMs: 0, endMs: 2000, energyJoules: 20 });
    expect(read(4000, 30_000_000)).toEqual({ deviceId: 'rapl:package-0', startMs: 2000, endMs: 4000, energyJoules: 40 });
    expect(meter.energy('rapl:package-0')).toEqual({ totalJoules: 60, powerWatts: 20, lastReadingMs: 4000 });
  });

  it('integrates power samples by the trapezoid rule and leaves gaps empty', () => {
    const events: string[] = [];
    const meter = new EnergyMeter({ maxGapMs: 5000, onEvent: (id, event) => events.push(`${id}:${event}`) });
    const read = (timeMs: number, watts: number) => meter.add({ kind: 'power', deviceId: 'gpu', timeMs, watts });
    read(0, 100);
    expect(read(2000, 200)?.energyJoules).toBe(300);
    expect(read(60_000, 200)).toBeUndefined();
    expect(read(61_000, 100)?.energyJoules).toBe(150);
    expect(meter.energy('gpu')?.totalJoules).toBe(450);
    expect(events).toEqual(['gpu:gap']);
    expect(trapezoidJoules(50, 150, 500)).toBe(50);
  });

  it('counts a counter reset (driver reload) as the energy since the restart, never negative', () => {
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const read = (timeMs: number, value: number) => meter.add({ kind: 'counter', deviceId: 'GPU-1', timeMs, value, unitJoules: 1e-3 });
    read(0, 5_000_000);
    expect(read(1000, 5_300_000)?.energyJoules).toBe(300);
    expect(read(2000, 120_000)?.energyJoules).toBe(120);
    expect(meter.energy('GPU-1')?.totalJoules).toBe(420);
  });
});
