import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CounterReading } from '../../src/devices/source.ts';
import { counterDelta } from '../../src/energy/counter.ts';
import { trapezoidJoules } from '../../src/energy/integrate.ts';
import { EnergyMeter } from '../../src/energy/meter.ts';
import { POWER_CEILING_WATTS, POWER_LIMIT_MARGIN, powerBoundWatts } from '../../src/energy/plausibility.ts';

/** max_energy_range_uj of a Xeon package zone (262,143 J), as the kernel's intel_rapl driver exposes it. */
const RAPL_WRAP_UJ = 262_143_328_850;
/** A plain bound for the counter cases: far above their steps, far below the glitches. */
const NO_BOUND_UNITS = Number.MAX_SAFE_INTEGER;

describe('counterDelta', () => {
  it('advances, wraps at the range and treats a drop without a range as a reset', () => {
    expect(counterDelta(100, 350, NO_BOUND_UNITS)).toEqual({ deltaUnits: 250, event: 'advance' });
    expect(counterDelta(RAPL_WRAP_UJ - 1_000, 4_000, NO_BOUND_UNITS, RAPL_WRAP_UJ)).toEqual({ deltaUnits: 5_000, event: 'wrap' });
    expect(counterDelta(9_000_000, 1_500, NO_BOUND_UNITS)).toEqual({ deltaUnits: 1_500, event: 'reset' });
  });

  it('takes a step above the bound, a wrap far from the top and a value above the range as implausible', () => {
    const implausible = { deltaUnits: 0, event: 'implausible' };
    // 1 s at a 1,500 W bound is 1.5e9 µJ.
    const maxUnits = 1_500_000_000;
    expect(counterDelta(100_000_000_000, 99_999_000_000, maxUnits, RAPL_WRAP_UJ)).toEqual(implausible);
    expect(counterDelta(100_000_000_000, 100_000_000_000 + 1e15, maxUnits, RAPL_WRAP_UJ)).toEqual(implausible);
    expect(counterDelta(100_000_000_000, RAPL_WRAP_UJ + 1, maxUnits, RAPL_WRAP_UJ)).toEqual(implausible);
    expect(counterDelta(RAPL_WRAP_UJ - 1_000_000_000, 400_000_000, maxUnits, RAPL_WRAP_UJ)).toEqual({ deltaUnits: 1_400_000_000, event: 'wrap' });
    // NVML (mJ, no range): a reset is accepted only when what the counter shows since the restart fits the bound.
    expect(counterDelta(9_000_000, 1_500, 1_500_000)).toEqual({ deltaUnits: 1_500, event: 'reset' });
    expect(counterDelta(9_000_000, 8_999_000, 1_500_000)).toEqual(implausible);
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
          const { deltaUnits } = counterDelta(raw, next, wrapAt, wrapAt);
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

describe('powerBoundWatts', () => {
  it('is the exposed limit times the margin, else the per-type ceiling', () => {
    expect(POWER_LIMIT_MARGIN).toBe(3);
    expect(powerBoundWatts({ type: 'gpu', powerLimitWatts: 700 })).toBe(2100);
    expect(powerBoundWatts({ type: 'cpu' })).toBe(POWER_CEILING_WATTS.cpu);
    expect(POWER_CEILING_WATTS).toEqual({ cpu: 1000, 'cpu-core': 1000, uncore: 1000, memory: 750, gpu: 3000, platform: 20_000, other: 20_000 });
  });
});

describe('EnergyMeter', () => {
  const rapl = (timeMs: number, value: number): CounterReading => ({
    kind: 'counter',
    deviceId: 'rapl:package-0',
    timeMs,
    value,
    unitJoules: 1e-6,
    wrapAt: RAPL_WRAP_UJ,
  });

  it('turns RAPL counter readings into intervals of exact joules and a monotonic total across a wrap', () => {
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const read = (timeMs: number, value: number) => meter.add(rapl(timeMs, value), 1000);
    expect(read(0, RAPL_WRAP_UJ - 30_000_000)).toEqual({});
    expect(read(2000, RAPL_WRAP_UJ - 10_000_000)).toEqual({ interval: { deviceId: 'rapl:package-0', startMs: 0, endMs: 2000, energyJoules: 20 } });
    expect(read(4000, 30_000_000)).toEqual({ interval: { deviceId: 'rapl:package-0', startMs: 2000, endMs: 4000, energyJoules: 40 }, event: 'wrap' });
    expect(meter.energy('rapl:package-0')).toEqual({ totalJoules: 60, powerWatts: 20, lastReadingMs: 4000 });
  });

  it('integrates power samples by the trapezoid rule and leaves gaps empty', () => {
    const meter = new EnergyMeter({ maxGapMs: 5000 });
    const read = (timeMs: number, watts: number) => meter.add({ kind: 'power', deviceId: 'gpu', timeMs, watts }, 3000);
    read(0, 100);
    expect(read(2000, 200).interval?.energyJoules).toBe(300);
    expect(read(60_000, 200)).toEqual({ event: 'gap' });
    expect(read(61_000, 100).interval?.energyJoules).toBe(150);
    expect(meter.energy('gpu')?.totalJoules).toBe(450);
    expect(trapezoidJoules(50, 150, 500)).toBe(50);
  });

  it('counts a counter reset (driver reload) as the energy since the restart, never negative', () => {
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const read = (timeMs: number, value: number) => meter.add({ kind: 'counter', deviceId: 'GPU-1', timeMs, value, unitJoules: 1e-3 }, 2100);
    read(0, 5_000_000);
    expect(read(1000, 5_300_000).interval?.energyJoules).toBe(300);
    expect(read(2000, 120_000)).toEqual({ interval: { deviceId: 'GPU-1', startMs: 1000, endMs: 2000, energyJoules: 120 }, event: 'reset' });
    expect(meter.energy('GPU-1')?.totalJoules).toBe(420);
  });

  it('adds nothing for a 1 J back-step, a 1e15 uJ jump or a value above the range, and bridges from the next good reading', () => {
    // 100 W true power read every second against a 250 W package limit (bound 750 W).
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const base = 100_000_000_000;
    const truth = (second: number) => base + second * 100_000_000;
    const glitched = new Map([
      [2, truth(1) - 1_000_000],
      [4, truth(4) + 1e15],
      [6, RAPL_WRAP_UJ + 5_000_000],
    ]);
    const events: (string | undefined)[] = [];
    for (let second = 0; second <= 8; second++) {
      const step = meter.add(rapl(second * 1000, glitched.get(second) ?? truth(second)), 750);
      events.push(step.event);
      expect(meter.energy('rapl:package-0')!.powerWatts).toBeLessThanOrEqual(750);
    }
    expect(events).toEqual([undefined, undefined, 'implausible', undefined, 'implausible', undefined, 'implausible', undefined, undefined]);
    // Every glitch is bridged by the next reading: the published energy is the true 8 s x 100 W.
    expect(meter.energy('rapl:package-0')!.totalJoules).toBeCloseTo(800, 6);
  });

  it('re-baselines when the counter stays where an implausible step took it', () => {
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const read = (second: number, value: number) => meter.add(rapl(second * 1000, value), 750).event;
    expect([read(0, 1_000_000_000), read(1, 1_100_000_000), read(2, 200_000_000_000), read(3, 200_100_000_000), read(4, 200_200_000_000)]).toEqual([
      undefined,
      undefined,
      'implausible',
      'implausible',
      undefined,
    ]);
    // 100 J before the move, 100 J after the new baseline: the two intervals in between are lost, never invented.
    expect(meter.energy('rapl:package-0')!.totalJoules).toBeCloseTo(200, 6);
  });

  it('drops power samples and hardware watts above the bound', () => {
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    const sample = (second: number, watts: number) => meter.add({ kind: 'power', deviceId: 'amdgpu', timeMs: second * 1000, watts }, 2250);
    sample(0, 300);
    expect(sample(1, 1e9)).toEqual({ event: 'implausible' });
    expect(meter.energy('amdgpu')!.powerWatts).toBe(300);
    expect(sample(2, 300).interval).toEqual({ deviceId: 'amdgpu', startMs: 0, endMs: 2000, energyJoules: 600 });
    const counter = (second: number, millijoules: number, watts: number) =>
      meter.add({ kind: 'counter', deviceId: 'GPU-0', timeMs: second * 1000, value: millijoules, unitJoules: 1e-3, watts }, 2100);
    counter(0, 1_000_000, 300);
    counter(1, 1_300_000, 1e9);
    // The hardware's own figure is a glitch: the interval's mean stands in.
    expect(meter.energy('GPU-0')!.powerWatts).toBe(300);
  });

  it('publishes the true energy and never more than the bound through random glitches (property)', () => {
    const boundWatts = 1500;
    const glitch = fc.oneof(
      fc.record({ kind: fc.constant('back' as const), joules: fc.integer({ min: 1, max: 100_000 }) }),
      fc.record({ kind: fc.constant('jump' as const), joules: fc.integer({ min: 10_000, max: 1e12 }) }),
      fc.record({ kind: fc.constant('range' as const), joules: fc.integer({ min: 0, max: 1e9 }) }),
      fc.record({ kind: fc.constant('watts' as const), joules: fc.integer({ min: boundWatts + 1, max: 1e12 }) }),
    );
    // Each tick: the true energy (µJ over 1 s at up to 500 W) and, sometimes, a glitch instead of the true reading.
    const tick = fc.record({ stepUj: fc.integer({ min: 0, max: 500_000_000 }), glitch: fc.option(glitch, { freq: 3 }) });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: RAPL_WRAP_UJ - 1 }), fc.array(tick, { minLength: 1, maxLength: 300 }), (start, ticks) => {
        const meter = new EnergyMeter({ maxGapMs: 10_000 });
        let raw = start;
        let truthUj = 0;
        let previousGlitched = false;
        meter.add(rapl(0, raw), boundWatts);
        ticks.forEach(({ stepUj, glitch: g }, index) => {
          raw = (raw + stepUj) % RAPL_WRAP_UJ;
          truthUj += stepUj;
          // Glitches never come twice in a row here: two in a row are a counter that moved (re-baseline, tested above).
          const glitched = g !== null && !previousGlitched && index < ticks.length - 1;
          previousGlitched = glitched;
          let reading = rapl((index + 1) * 1000, raw);
          if (glitched) {
            const units = g.joules * 1e6;
            if (g.kind === 'back') reading = rapl(reading.timeMs, (raw - units + RAPL_WRAP_UJ) % RAPL_WRAP_UJ);
            if (g.kind === 'jump') reading = rapl(reading.timeMs, (raw + units) % RAPL_WRAP_UJ === raw ? raw + RAPL_WRAP_UJ : raw + units);
            if (g.kind === 'range') reading = rapl(reading.timeMs, RAPL_WRAP_UJ + 1 + units);
            if (g.kind === 'watts') reading = { ...reading, watts: g.joules };
          }
          meter.add(reading, boundWatts);
          expect(meter.energy('rapl:package-0')!.powerWatts).toBeLessThanOrEqual(boundWatts);
        });
        expect(meter.energy('rapl:package-0')!.totalJoules).toBeCloseTo(truthUj / 1e6, 3);
      }),
      { seed: 12, numRuns: 300 },
    );
  });
});
