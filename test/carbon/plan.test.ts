// The plan algorithm against hand-computed forecasts (docs/planning.md, worked example).
import { describe, expect, it } from 'vitest';
import { averageIntensity, planStart, PlanError, type Forecast } from '../../src/carbon/plan.ts';
import { parseDeadline, parsePlanArgs, parsePower } from '../../src/carbon/plan-args.ts';

const T0 = Date.UTC(2026, 11, 1, 0, 0);
const HOUR = 3_600_000;

function hourly(values: number[]): Forecast {
  return { points: values.map((gramsPerKwh, index) => ({ timeMs: T0 + index * HOUR, gramsPerKwh })), endMs: T0 + values.length * HOUR };
}

describe('planStart', () => {
  it('finds the window with the least grams: 1 kW for 2 h at PUE 1.5 saves 525 g by starting at 02:00', () => {
    // now 00:30: [0.5 h x 400 + 1 h x 300 + 0.5 h x 100] / 2 h = 275 g/kWh; 2 kWh x 1.5 x 275 = 825 g.
    // 02:00: (100 + 100) / 2 = 100 g/kWh -> 300 g. Others: 01:00 600 g, 03:00 900 g, 04:00 1050 g.
    const plan = planStart({ forecast: hourly([400, 300, 100, 100, 500, 200]), nowMs: T0 + HOUR / 2, durationMs: 2 * HOUR, powerWatts: 1000, pue: 1.5 });
    expect(plan.energyKwh).toBe(2);
    expect(plan.now).toEqual({ startMs: T0 + HOUR / 2, gramsCo2e: 825, averageGramsPerKwh: 275 });
    expect(plan.best).toEqual({ startMs: T0 + 2 * HOUR, gramsCo2e: 300, averageGramsPerKwh: 100 });
    expect(plan.savingGrams).toBe(525);
    expect(plan.notes).toEqual([]);
  });

  it('gives a tie to the earliest start', () => {
    // [01:00, 03:00) and [04:00, 06:00) both average 100 g/kWh: 2 kWh x 100 = 200 g; 01:00 wins.
    const plan = planStart({ forecast: hourly([200, 100, 100, 200, 100, 100]), nowMs: T0, durationMs: 2 * HOUR, powerWatts: 1000, pue: 1 });
    expect(plan.best).toEqual({ startMs: T0 + HOUR, gramsCo2e: 200, averageGramsPerKwh: 100 });
    expect(plan.now.gramsCo2e).toBe(300);
    expect(plan.savingGrams).toBe(100);
  });

  it('may start between points when the deadline cuts the window: latest start 00:30 averages 125 g/kWh', () => {
    // by 02:30 -> latest start 00:30: [0.5 h x 200 + 1 h x 100 + 0.5 h x 100] / 2 h = 125 g/kWh -> 250 g vs 300 g now.
    const plan = planStart({ forecast: hourly([200, 100, 100, 200]), nowMs: T0, durationMs: 2 * HOUR, powerWatts: 1000, pue: 1, deadlineMs: T0 + 2.5 * HOUR });
    expect(plan.best).toEqual({ startMs: T0 + HOUR / 2, gramsCo2e: 250, averageGramsPerKwh: 125 });
    expect(plan.savingGrams).toBe(50);
  });

  it('starts now and says so when the deadline is closer than the job', () => {
    const plan = planStart({ forecast: hourly([200, 100, 100]), nowMs: T0, durationMs: 2 * HOUR, powerWatts: 1000, pue: 1, deadlineMs: T0 + HOUR });
    expect(plan.best).toEqual(plan.now);
    expect(plan.best).toEqual({ startMs: T0, gramsCo2e: 300, averageGramsPerKwh: 150 });
    expect(plan.savingGrams).toBe(0);
    expect(plan.notes).toEqual(["the deadline 2026-12-01T01:00:00.000Z is closer than the job's duration: starting now it ends at 2026-12-01T02:00:00.000Z"]);
  });

  it('rejects an empty forecast, a forecast that starts later than now, and a non-positive job', () => {
    const job = { nowMs: T0, durationMs: HOUR, powerWatts: 1000, pue: 1 };
    expect(() => planStart({ ...job, forecast: { points: [], endMs: T0 } })).toThrow(new PlanError('the forecast is empty'));
    expect(() => planStart({ ...job, nowMs: T0 - 1, forecast: hourly([1]) })).toThrow(
      'the forecast starts at 2026-12-01T00:00:00.000Z, after now (2026-11-30T23:59:59.999Z)',
    );
    expect(() => planStart({ ...job, durationMs: 0, forecast: hourly([1]) })).toThrow('duration must be a positive time');
    expect(() => planStart({ ...job, powerWatts: Number.NaN, forecast: hourly([1]) })).toThrow('power must be a positive number of watts');
  });

  it('averages piecewise-constant intensity, the last point holding past its start', () => {
    expect(averageIntensity(hourly([400, 100]).points, T0 + HOUR / 2, T0 + 2.5 * HOUR)).toBe((0.5 * 400 + 1.5 * 100) / 2);
  });
});

describe('plan arguments', () => {
  it('parses durations, powers with units and zoned deadlines', () => {
    expect(parsePlanArgs({ duration: '4h', power: '2.4kW', by: '2026-12-02T06:00Z' }, T0)).toEqual({
      durationMs: 4 * HOUR,
      powerWatts: 2400,
      deadlineMs: Date.UTC(2026, 11, 2, 6, 0),
    });
    expect(parsePower('300W')).toBe(300);
    expect(parsePower('1.2MW')).toBe(1_200_000);
  });

  it('names the argument and the accepted form of each bad value', () => {
    expect(() => parsePlanArgs({ power: '1kW' }, T0)).toThrow('duration: (missing) is invalid: expected a duration like 4h');
    expect(() => parsePlanArgs({ duration: '4 weeks', power: '1kW' }, T0)).toThrow(
      "duration: '4 weeks' is invalid: expected a duration like 90m or 4h, at least 1s and at most 7d",
    );
    // Below float resolution `now + duration` was `now`: 200 with null grams.
    expect(() => parsePlanArgs({ duration: '0.0001ms', power: '1kW' }, T0)).toThrow(
      "duration: '0.0001ms' is invalid: expected a duration like 90m or 4h, at least 1s",
    );
    expect(() => parsePlanArgs({ duration: '999ms', power: '1kW' }, T0)).toThrow("duration: '999ms' is invalid");
    expect(parsePlanArgs({ duration: '1s', power: '1kW' }, T0).durationMs).toBe(1000);
    expect(() => parsePlanArgs({ duration: '8d', power: '1kW' }, T0)).toThrow("duration: '8d' is invalid");
    expect(() => parsePower('2400')).toThrow("power: '2400' is invalid: expected a power like 300W, 2.4kW or 1.2MW, above 0 and at most 100MW");
    expect(() => parsePower('0W')).toThrow("power: '0W' is invalid");
    expect(() => parseDeadline('2026-12-02T06:00', T0)).toThrow(
      "by: '2026-12-02T06:00' is invalid: expected an ISO 8601 time with a zone, e.g. 2026-12-02T06:00Z",
    );
    expect(() => parseDeadline('2026-11-30T06:00Z', T0)).toThrow("by: '2026-11-30T06:00Z' is invalid: expected a time after now and at most 7 days ahead");
  });
});
