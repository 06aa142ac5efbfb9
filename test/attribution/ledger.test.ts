import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Activity, ActivityProvider, RequestRecord, SpanActivity } from '../../src/attribution/activity.ts';
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

const request = (activity: Activity, extra: Partial<RequestRecord> = {}): RequestRecord => ({
  workload: activity.workload,
  startMs: activity.startMs,
  endMs: activity.endMs,
  deviceIds: activity.deviceIds,
  ...extra,
});
const pushed = (activity: Activity, extra: Partial<RequestRecord> = {}): SpanActivity => ({ activity, request: request(activity, extra) });

describe('Ledger', () => {
  it('closes intervals after the lag, splits joules exactly and reports each request with its energy', () => {
    const ledger = new Ledger({ lagMs: 1000, horizonMs: 1000, providers: [] });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 2000, energyJoules: 600 });
    const activity = span('llama', 500, 1500, { deviceIds: ['GPU-1'] });
    expect(ledger.addSpans([pushed(activity, { inputTokens: 10 })])).toEqual(['accepted']);
    expect(ledger.close(2500)).toEqual({ shares: [], requests: [], unsettledJoules: new Map([['GPU-1', 600]]), truncatedJoules: 0 });
    const closed = ledger.close(3000);
    expect(closed.shares).toEqual([
      { deviceId: 'GPU-1', workload: { model: 'llama', phase: 'inference' }, startMs: 0, endMs: 2000, energyJoules: 300, deviceSeconds: 1 },
      { deviceId: 'GPU-1', workload: { phase: 'idle' }, startMs: 0, endMs: 2000, energyJoules: 300, deviceSeconds: 1 },
    ]);
    expect(closed.requests).toEqual([
      { request: { workload: activity.workload, startMs: 500, endMs: 1500, deviceIds: ['GPU-1'], inputTokens: 10 }, energyJoules: 300 },
    ]);
    expect(closed.unsettledJoules).toEqual(new Map([['GPU-1', 0]]));
    // The horizon equals the lag here: the idle is settled, so a span arriving now gets nothing of it.
    expect(ledger.addSpans([pushed(span('late', 100, 1900))])).toEqual(['truncated']);
    const after = ledger.close(4000);
    expect(after.shares).toEqual([]);
    expect(after.requests).toEqual([{ request: request(span('late', 100, 1900)), energyJoules: 0 }]);
  });

  it('reports each request with the trace and span id it came with, across row moves and growth, and none for a request without', () => {
    const ledger = new Ledger({ lagMs: 1000, horizonMs: 1000, providers: [] });
    const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0');
    // 3000 spans (past the table's first 1024 rows); the even ones end first, so the odd ones move when those finish.
    const spans = Array.from({ length: 3000 }, (_, index) => {
      const activity = span('llama', 0, index % 2 === 0 ? 1000 : 5000);
      return pushed(activity, index === 7 ? {} : { traceId: hex(index + 1, 32).replace(/^0/, 'f'), spanId: hex(index + 1, 16) });
    });
    ledger.addSpans(spans);
    const byEnd = (requests: { request: RequestRecord }[]) => requests.map(({ request }) => [request.traceId, request.spanId]);
    const first = ledger.close(2000);
    expect(byEnd(first.requests)).toEqual(spans.filter((_, index) => index % 2 === 0).map(({ request }) => [request.traceId, request.spanId]));
    const rest = ledger.close(6000);
    expect(byEnd(rest.requests)).toEqual(spans.filter((_, index) => index % 2 === 1).map(({ request }) => [request.traceId, request.spanId]));
    expect(rest.requests.find(({ request }) => request.traceId === undefined)).toEqual({ request: spans[7]!.request, energyJoules: 0 });
  });

  it('gives a span that arrives after its intervals closed the provisional idle it overlaps, and idle only after the horizon', () => {
    const ledger = new Ledger({ lagMs: 1000, horizonMs: 60_000, providers: [] });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 2000, energyJoules: 400 });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 2000, endMs: 4000, energyJoules: 400 });
    expect(ledger.close(5000)).toEqual({ shares: [], requests: [], unsettledJoules: new Map([['GPU-1', 800]]), truncatedJoules: 0 });

    const long = span('llama', 1000, 4000);
    expect(ledger.addSpans([pushed(long, { outputTokens: 30 })])).toEqual(['accepted']);
    const claimed = ledger.close(5200);
    // 200 W over [1000, 4000): 3 s, 600 J; the two intervals' idle stretches merged into one.
    expect(claimed.shares).toEqual([{ deviceId: 'GPU-1', workload: long.workload, startMs: 0, endMs: 4000, energyJoules: 600, deviceSeconds: 3 }]);
    expect(claimed.requests).toEqual([{ request: request(long, { outputTokens: 30 }), energyJoules: 600 }]);
    expect(claimed.unsettledJoules).toEqual(new Map([['GPU-1', 200]]));

    // [1000, 2000) is llama's now: the second span gets [0, 1000) and 200 J are lost to it.
    const second = span('mistral', 0, 2000);
    expect(ledger.addSpans([pushed(second)])).toEqual(['truncated']);
    const truncated = ledger.close(5400);
    expect(truncated.shares).toEqual([{ deviceId: 'GPU-1', workload: second.workload, startMs: 0, endMs: 1000, energyJoules: 200, deviceSeconds: 1 }]);
    expect(truncated.requests).toEqual([{ request: request(second), energyJoules: 200 }]);
    expect(truncated.truncatedJoules).toBe(200);
    expect(truncated.unsettledJoules).toEqual(new Map([['GPU-1', 0]]));
    expect(ledger.close(64_000).shares).toEqual([]);
  });

  it('does not count as truncated the time a late span misses to an earlier request of its own workload', () => {
    // A serving engine batches concurrent requests; their spans end, and are exported, at different times.
    const ledger = new Ledger({ lagMs: 0, horizonMs: 60_000, providers: [] });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 4000, energyJoules: 400 });
    ledger.close(4000);
    const first = span('llama', 0, 3000);
    expect(ledger.addSpans([pushed(first)])).toEqual(['accepted']);
    expect(ledger.close(4100).shares).toEqual([{ deviceId: 'GPU-1', workload: first.workload, startMs: 0, endMs: 4000, energyJoules: 300, deviceSeconds: 3 }]);
    // Same workload over [1000, 4000): [1000, 3000) already went to llama, [3000, 4000) is still idle.
    const second = span('llama', 1000, 4000);
    expect(ledger.addSpans([pushed(second)])).toEqual(['accepted']);
    const closed = ledger.close(4200);
    expect(closed.shares).toEqual([{ deviceId: 'GPU-1', workload: second.workload, startMs: 3000, endMs: 4000, energyJoules: 100, deviceSeconds: 1 }]);
    expect(closed.truncatedJoules).toBe(0);
    expect(closed.unsettledJoules).toEqual(new Map([['GPU-1', 0]]));
    // Another model over the same time did lose it: llama took all of [0, 4000).
    expect(ledger.addSpans([pushed(span('mistral', 0, 1000))])).toEqual(['truncated']);
    expect(ledger.close(4300).truncatedJoules).toBe(100);
  });

  it('publishes unclaimed idle when the horizon passes; spans of one export share claimed time by weight', () => {
    const ledger = new Ledger({ lagMs: 0, horizonMs: 10_000, providers: [] });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 4000, energyJoules: 400 });
    ledger.addInterval({ deviceId: 'rapl:package-0', startMs: 0, endMs: 4000, energyJoules: 80 });
    ledger.close(4000);
    const a = span('a', 0, 2000, { deviceIds: ['GPU-1'] });
    const b = span('b', 1000, 2000, { deviceIds: ['GPU-1'], weight: 3 });
    expect(ledger.addSpans([pushed(a), pushed(b)])).toEqual(['accepted', 'accepted']);
    // [0,1000): a alone; [1000,2000): a 1/4, b 3/4. 100 W.
    expect(ledger.close(5000).shares).toEqual([
      { deviceId: 'GPU-1', workload: a.workload, startMs: 0, endMs: 4000, energyJoules: 125, deviceSeconds: 1.25 },
      { deviceId: 'GPU-1', workload: b.workload, startMs: 0, endMs: 4000, energyJoules: 75, deviceSeconds: 0.75 },
    ]);
    expect(ledger.close(13_999).shares).toEqual([]);
    const settled = ledger.close(14_000);
    expect(settled.shares).toEqual([
      { deviceId: 'GPU-1', workload: { phase: 'idle' }, startMs: 2000, endMs: 4000, energyJoules: 200, deviceSeconds: 2 },
      { deviceId: 'rapl:package-0', workload: { phase: 'idle' }, startMs: 0, endMs: 4000, energyJoules: 80, deviceSeconds: 4 },
    ]);
    expect(settled.unsettledJoules).toEqual(
      new Map([
        ['GPU-1', 0],
        ['rapl:package-0', 0],
      ]),
    );
  });

  it('lets a late span take only the idle fraction pods with a CPU share left', () => {
    const cpu: Activity = { source: 'pod', workload: { pod: 'batch' }, startMs: 0, endMs: 1000, fraction: 0.25 };
    const ledger = new Ledger({ lagMs: 0, horizonMs: 60_000, providers: [{ name: 'pods', activitiesBetween: () => [cpu] }] });
    ledger.addInterval({ deviceId: 'rapl:package-0', startMs: 0, endMs: 1000, energyJoules: 40 });
    expect(ledger.close(1000).shares).toEqual([
      { deviceId: 'rapl:package-0', workload: { pod: 'batch' }, startMs: 0, endMs: 1000, energyJoules: 10, deviceSeconds: 0.25 },
    ]);
    expect(ledger.addSpans([pushed(span('m', 0, 1000))])).toEqual(['truncated']);
    const closed = ledger.close(1100);
    expect(closed.shares).toEqual([
      { deviceId: 'rapl:package-0', workload: { model: 'm', phase: 'inference' }, startMs: 0, endMs: 1000, energyJoules: 30, deviceSeconds: 0.75 },
    ]);
    expect(closed.truncatedJoules).toBe(10);
  });

  it('pulls windows from providers and only applies activities to their devices', () => {
    const windows: ActivityProvider = {
      name: 'windows',
      activitiesBetween: () => [
        { source: 'window', workload: { job: 'train', phase: 'checkpoint' }, startMs: 0, endMs: 10_000, deviceIds: ['rapl:package-0'] },
      ],
    };
    const ledger = new Ledger({ lagMs: 0, horizonMs: 0, providers: [windows] });
    ledger.addInterval({ deviceId: 'rapl:package-0', startMs: 0, endMs: 1000, energyJoules: 50 });
    ledger.addInterval({ deviceId: 'GPU-1', startMs: 0, endMs: 1000, energyJoules: 200 });
    const { shares } = ledger.close(1000);
    expect(shares.map((share) => [share.deviceId, share.workload.phase, share.energyJoules])).toEqual([
      ['rapl:package-0', 'checkpoint', 50],
      ['GPU-1', 'idle', 200],
    ]);
  });

  it('conserves every device joule at every tick (attributed + unsettled == measured) for late and long spans of several senders, and gives no span more than its overlap (property)', () => {
    const activityArb = fc.record({
      device: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      startMs: fc.integer({ min: 0, max: 20_000 }),
      lengthMs: fc.integer({ min: 0, max: 30_000 }),
      weight: fc.option(fc.double({ min: 0.01, max: 100, noNaN: true }), { nil: undefined }),
      delayMs: fc.integer({ min: 0, max: 20_000 }),
      batch: fc.integer({ min: 0, max: 3 }),
      source: fc.constantFrom('span', 'span', 'pod-owner', 'pod-cpu'),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
      sender: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    });
    const intervalArb = fc.array(
      fc.record({
        device: fc.integer({ min: 0, max: 2 }),
        lengthMs: fc.integer({ min: 1, max: 3000 }),
        energyJoules: fc.double({ min: 0, max: 5000, noNaN: true }),
      }),
      { maxLength: 40 },
    );
    const optionsArb = fc.record({
      lagMs: fc.integer({ min: 0, max: 5000 }),
      extraHorizonMs: fc.integer({ min: 0, max: 20_000 }),
      extraClaimWindowMs: fc.integer({ min: 0, max: 20_000 }),
    });
    fc.assert(
      fc.property(intervalArb, fc.array(activityArb, { maxLength: 40 }), optionsArb, (intervals, activities, { lagMs, extraHorizonMs, extraClaimWindowMs }) => {
        const pods: Activity[] = [];
        const ledger = new Ledger({
          lagMs,
          horizonMs: lagMs + extraHorizonMs,
          claimWindowMs: lagMs + extraClaimWindowMs,
          providers: [{ name: 'pods', activitiesBetween: () => pods }],
        });
        const clocks = [0, 0, 0];
        const measured = [0, 0, 0];
        const attributed = [0, 0, 0];
        const added: { device: number; startMs: number; endMs: number; energyJoules: number }[] = [];
        const spanEnergy = new Map<RequestRecord, number>();
        let spans = 0;
        // Spans arrive when they end plus an export delay, a few at a time as in one export.
        const queue = activities
          .map((next) => ({ ...next, arrivalMs: next.startMs + next.lengthMs + next.delayMs + next.batch * 500 }))
          .sort((x, y) => x.arrivalMs - y.arrivalMs);
        const tally = (closed: ReturnType<Ledger['close']>) => {
          for (const share of closed.shares) {
            expect(share.energyJoules).toBeGreaterThanOrEqual(0);
            attributed[Number(share.deviceId.slice(1))]! += share.energyJoules;
          }
          for (const done of closed.requests) spanEnergy.set(done.request, done.energyJoules);
          for (let device = 0; device < 3; device++) {
            const unsettled = closed.unsettledJoules.get(`d${device}`) ?? 0;
            expect(Math.abs(attributed[device]! + unsettled - measured[device]!)).toBeLessThanOrEqual(1e-9 * Math.max(1, measured[device]!));
          }
        };
        for (let nowMs = 0; nowMs <= 80_000; nowMs += 1000) {
          const batch: SpanActivity[] = [];
          while (queue.length > 0 && queue[0]!.arrivalMs <= nowMs) {
            const next = queue.shift()!;
            const activity: Activity = {
              source: next.source === 'span' ? 'span' : 'pod',
              workload: { model: `m${next.startMs % 3}` },
              startMs: next.startMs,
              endMs: next.startMs + next.lengthMs,
              deviceIds: next.device === undefined ? undefined : [`d${next.device}`],
              weight: next.weight,
              fraction: next.source === 'pod-cpu' ? next.fraction : undefined,
              senderKey: next.sender === undefined ? undefined : `10.0.0.${next.sender}`,
            };
            if (activity.source === 'span') batch.push(pushed(activity));
            else pods.push(activity);
          }
          spans += batch.length;
          if (batch.length > 0) expect(ledger.addSpans(batch)).toHaveLength(batch.length);
          for (const interval of intervals.splice(0, 2)) {
            const startMs = clocks[interval.device]!;
            clocks[interval.device] = startMs + interval.lengthMs;
            measured[interval.device]! += interval.energyJoules;
            added.push({ device: interval.device, startMs, endMs: startMs + interval.lengthMs, energyJoules: interval.energyJoules });
            ledger.addInterval({ deviceId: `d${interval.device}`, startMs, endMs: startMs + interval.lengthMs, energyJoules: interval.energyJoules });
          }
          tally(ledger.close(nowMs));
        }
        tally(ledger.close(Number.MAX_SAFE_INTEGER));
        for (let device = 0; device < 3; device++) expect(attributed[device]).toBeCloseTo(measured[device]!, 6);
        // Every span settles once, and never with more than its overlap with the devices it ran on.
        expect(spanEnergy.size).toBe(spans);
        for (const [record, energyJoules] of spanEnergy) {
          let overlapJoules = 0;
          for (const interval of added) {
            if (record.deviceIds && !record.deviceIds.includes(`d${interval.device}`)) continue;
            const overlapMs = Math.min(record.endMs, interval.endMs) - Math.max(record.startMs, interval.startMs);
            if (overlapMs > 0) overlapJoules += (interval.energyJoules * overlapMs) / (interval.endMs - interval.startMs);
          }
          expect(energyJoules).toBeLessThanOrEqual(overlapJoules * (1 + 1e-9) + 1e-9);
        }
      }),
      { numRuns: 300 },
    );
  });
});
