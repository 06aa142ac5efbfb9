import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Activity, ActivityProvider } from '../../src/attribution/activity.ts';
import { Ledger } from '../../src/attribution/ledger.ts';
import { splitInterval } from '../../src/attribution/split.ts';

const span = (model: string, startMs: number, endMs: number, extra: Partial<Activity> = {}): Activity => ({
  source: 'span',
  workload: { model, phase: 'inference' },
  startMs,
  endMs,
  ...extra,
});

describe('splitInterval', () => {
  it('shares overlapping time by weight and leaves uncovered time idle', () => {
    const a = span('a', 0, 1000);
    const b = span('b', 500, 2000, { weight: 3 });
    const { shares, idleSeconds } = splitInterval(0, 4000, [a, b]);
    // [0,500): a alone 0.5 s; [500,1000): a 1/4, b 3/4 of 0.5 s; [1000,2000): b 1 s; [2000,4000): idle.
    expect(shares[0]!.seconds).toBeCloseTo(0.625, 12);
    expect(shares[1]!.seconds).toBeCloseTo(1.375, 12);
    expect(idleSeconds).toBe(2);
  });

  it('gives spans precedence over pod ownership, and pod CPU fractions only the remaining time', () => {
    const owner: Activity = { source: 'pod', workload: { pod: 'trainer' }, startMs: 0, endMs: 2000 };
    const cpuA: Activity = { source: 'pod', workload: { pod: 'a' }, startMs: 0, endMs: 2000, fraction: 0.25 };
    const spanned = span('m', 0, 1000);
    expect(splitInterval(0, 2000, [owner, spanned]).shares.map((share) => share.seconds)).toEqual([1, 1]);
    const cpu = splitInterval(0, 2000, [cpuA, spanned]);
    expect(cpu.shares.map((share) => share.seconds)).toEqual([0.25, 1]);
    expect(cpu.idleSeconds).toBe(0.75);
  });

  it('scales CPU fractions that add up past 1', () => {
    const pods = [0.75, 0.75].map((fraction, index): Activity => ({ source: 'pod', workload: { pod: `p${index}` }, startMs: 0, endMs: 1000, fraction }));
    const { shares, idleSeconds } = splitInterval(0, 1000, pods);
    expect(shares.map((share) => share.seconds)).toEqual([0.5, 0.5]);
    expect(idleSeconds).toBe(0);
  });
});

describe('Ledger', () => {
  it('closes intervals after the lag, splits joules exactly and reports each request with its energy', () => {
    const ledger = new Ledger({ lagMs: 1000, providers: [] });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 2000, energyJoules: 600 });
    const activity = span('llama', 500, 1500, { deviceIds: ['GPU-1'] });
    expect(ledger.addActivity(activity)).toBe('accepted');
    ledger.addRequest({ workload: activity.workload, startMs: 500, endMs: 1500, inputTokens: 10 });
    expect(ledger.close(2500)).toEqual({ shares: [], requests: [] });
    const closed = ledger.close(3000);
    expect(closed.shares).toEqual([
      { deviceId: 'GPU-1', workload: { model: 'llama', phase: 'inference' }, startMs: 0, endMs: 2000, energyJoules: 300, deviceSeconds: 1 },
      { deviceId: 'GPU-1', workload: { phase: 'idle' }, startMs: 0, endMs: 2000, energyJoules: 300, deviceSeconds: 1 },
    ]);
    expect(closed.requests).toEqual([{ request: { workload: activity.workload, startMs: 500, endMs: 1500, inputTokens: 10 }, energyJoules: 300 }]);
    expect(ledger.addActivity(span('late', 100, 1900))).toBe('late');
  });

  it('pulls windows from providers and only applies activities to their devices', () => {
    const windows: ActivityProvider = {
      name: 'windows',
      activitiesBetween: () => [{ source: 'window', workload: { job: 'train', phase: 'checkpoint' }, startMs: 0, endMs: 10_000, deviceIds: ['rapl:package-0'] }],
    };
    const ledger = new Ledger({ lagMs: 0, providers: [windows] });
    ledger.addInterval({ deviceId: 'rapl:package-0', startMs: 0, endMs: 1000, energyJoules: 50 });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 1000, energyJoules: 200 });
    const { shares } = ledger.close(1000);
    expect(shares.map((share) => [share.deviceId, share.workload.phase, share.energyJoules])).toEqual([
      ['rapl:package-0', 'checkpoint', 50],
      ['GPU-1', 'idle', 200],
    ]);
  });

  it('conserves every device joule for random devices, overlapping activities and late arrivals (property)', () => {
    const activityArb = fc.record({
      device: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      startMs: fc.integer({ min: 0, max: 20_000 }),
      lengthMs: fc.integer({ min: 0, max: 8000 }),
      weight: fc.option(fc.double({ min: 0.01, max: 100, noNaN: true }), { nil: undefined }),
      arrivalMs: fc.integer({ min: 0, max: 30_000 }),
      source: fc.constantFrom('span', 'pod-owner', 'pod-cpu'),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    const intervalArb = fc.array(fc.record({ device: fc.integer({ min: 0, max: 2 }), lengthMs: fc.integer({ min: 1, max: 3000 }), energyJoules: fc.double({ min: 0, max: 5000, noNaN: true }) }), { maxLength: 30 });
    fc.assert(
      fc.property(intervalArb, fc.array(activityArb, { maxLength: 40 }), (intervals, activities) => {
        const pods: Activity[] = [];
        const ledger = new Ledger({ lagMs: 2000, providers: [{ name: 'pods', activitiesBetween: () => pods }] });
        const clocks = [0, 0, 0];
        const measured = [0, 0, 0];
        const attributed = [0, 0, 0];
        const pending = [...activities].sort((x, y) => x.arrivalMs - y.arrivalMs);
        for (let nowMs = 0; nowMs <= 40_000; nowMs += 1000) {
          while (pending.length > 0 && pending[0]!.arrivalMs <= nowMs) {
            const next = pending.shift()!;
            const activity: Activity = {
              source: next.source === 'span' ? 'span' : 'pod',
              workload: { model: `m${next.startMs % 3}` },
              startMs: next.startMs,
              endMs: next.startMs + next.lengthMs,
              deviceIds: next.device === undefined ? undefined : [`d${next.device}`],
              weight: next.weight,
              fraction: next.source === 'pod-cpu' ? next.fraction : undefined,
            };
            if (activity.source === 'span') ledger.addActivity(activity);
            else pods.push(activity);
          }
          for (const interval of intervals.splice(0, 2)) {
            const startMs = clocks[interval.device]!;
            clocks[interval.device] = startMs + interval.lengthMs;
            measured[interval.device]! += interval.energyJoules;
            ledger.addInterval({ deviceId: `d${interval.device}`, startMs, endMs: startMs + interval.lengthMs, energyJoules: interval.energyJoules });
          }
          for (const share of ledger.close(nowMs).shares) {
            expect(share.energyJoules).toBeGreaterThanOrEqual(0);
            attributed[Number(share.deviceId.slice(1))]! += share.energyJoules;
          }
        }
        for (const share of ledger.close(Number.MAX_SAFE_INTEGER).shares) attributed[Number(share.deviceId.slice(1))]! += share.energyJoules;
        for (let device = 0; device < 3; device++) {
          expect(attributed[device]).toBeCloseTo(measured[device]!, 6);
        }
      }),
      { numRuns: 300 },
    );
  });
});
