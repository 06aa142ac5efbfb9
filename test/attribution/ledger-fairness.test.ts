// Fairness between clients (issue 19, F8 and F11): without a token any client can send spans, so no
// client may take more than its share of a device. Devices here run at 220 W in 1 s intervals with
// the default 15 s lag, 10 min horizon and 60 s claim window; the truth is watts x seconds. Once a
// device has spans of two senders, its intervals wait the claim window: every sender whose request
// ran then gets its share, whoever sent first.
import { describe, expect, it } from 'vitest';
import type { Activity, SpanActivity } from '../../src/attribution/activity.ts';
import { Ledger, type LedgerClose } from '../../src/attribution/ledger.ts';

const POWER_WATTS = 220;
const LAG_MS = 15_000;

function span(model: string, senderKey: string, startMs: number, endMs: number): SpanActivity {
  const activity: Activity = { source: 'span', workload: { model }, startMs, endMs, senderKey };
  return { activity, request: { workload: activity.workload, startMs, endMs } };
}

/** A ledger fed one 220 W interval per second as time passes, tallying what it publishes. */
function node() {
  const ledger = new Ledger({ lagMs: LAG_MS, horizonMs: 600_000, claimWindowMs: 60_000, providers: [] });
  let clockMs = 0;
  let measuredJoules = 0;
  const energyByModel = new Map<string, number>();
  const requestEnergy: { model: string; startMs: number; energyJoules: number }[] = [];
  let truncatedJoules = 0;
  let unsettledJoules = 0;
  const tally = (closed: LedgerClose) => {
    for (const share of closed.shares) {
      const model = share.workload.model ?? 'idle';
      energyByModel.set(model, (energyByModel.get(model) ?? 0) + share.energyJoules);
    }
    for (const done of closed.requests)
      requestEnergy.push({ model: done.request.workload.model!, startMs: done.request.startMs, energyJoules: done.energyJoules });
    truncatedJoules += closed.truncatedJoules;
    unsettledJoules = closed.unsettledJoules.get('GPU-1') ?? 0;
  };
  return {
    ledger,
    requestEnergy,
    energyByModel,
    get truncatedJoules() {
      return truncatedJoules;
    },
    /** Runs the clock to `untilMs`, closing every second. */
    runTo(untilMs: number) {
      while (clockMs < untilMs) {
        ledger.addInterval({ deviceId: 'GPU-1', startMs: clockMs, endMs: clockMs + 1000, energyJoules: POWER_WATTS });
        clockMs += 1000;
        measuredJoules += POWER_WATTS;
        tally(ledger.close(clockMs));
      }
    },
    conserved() {
      let attributed = 0;
      for (const joules of energyByModel.values()) attributed += joules;
      return Math.abs(attributed + unsettledJoules - measuredJoules) <= 1e-9 * measuredJoules;
    },
  };
}

describe('fairness between senders', () => {
  it('gives a span half of its time against 1,000 overlapping spans of another sender, not 1/1,001 (F8)', () => {
    const gpu = node();
    gpu.runTo(1000);
    // All in time (before the lag passes): 2 s at 220 W = 440 J over [2 s, 4 s).
    const flood = Array.from({ length: 1000 }, () => span('attacker', '10.0.0.66', 2000, 4000));
    gpu.ledger.addSpans(flood);
    expect(gpu.ledger.addSpans([span('victim', '10.0.0.7', 2000, 4000)])).toEqual(['accepted']);
    gpu.runTo(70_000);
    expect(gpu.requestEnergy.find((request) => request.model === 'victim')!.energyJoules).toBeCloseTo(220, 9);
    expect(gpu.energyByModel.get('attacker')).toBeCloseTo(220, 9);
    expect(gpu.conserved()).toBe(true);
  });

  it('shares the time of a long late span with a later sender whose request covers it, instead of first-come (F8: one 584 s span)', () => {
    const gpu = node();
    gpu.runTo(141_000);
    // The victim serves a 40 s request, exported when it ends; the attacker showed up once since.
    expect(gpu.ledger.addSpans([span('victim', '10.0.0.7', 100_000, 140_000)])).toEqual(['accepted']);
    gpu.runTo(300_000);
    expect(gpu.ledger.addSpans([span('attacker', '10.0.0.66', 299_000, 300_000)])).toEqual(['accepted']);
    gpu.runTo(600_000);
    // One 584 s span claims everything since 16 s, at once.
    expect(gpu.ledger.addSpans([span('attacker', '10.0.0.66', 16_000, 600_000)])).toEqual(['truncated']);
    // The victim's next 40 s request ends right after: its closed time is still open to its claim.
    expect(gpu.ledger.addSpans([span('victim', '10.0.0.7', 555_000, 595_000)])).toEqual(['accepted']);
    gpu.runTo(700_000);
    const [first, second] = gpu.requestEnergy.filter((request) => request.model === 'victim');
    expect(first!.energyJoules).toBeCloseTo(40 * POWER_WATTS, 6);
    // Half of 8,800 J, where first-come gave it 1,100 J (its 10 s not yet closed, shared).
    expect(second!.energyJoules).toBeCloseTo(20 * POWER_WATTS, 6);
    // The attacker: [16 s, 600 s) less the victim's first 40 s and half of its second (its 1 s span
    // at 299 s shares with itself).
    expect(gpu.energyByModel.get('attacker')).toBeCloseTo((584 - 40 - 20) * POWER_WATTS, 6);
    // It missed the victim's first request: 40 s taken by another workload, counted once.
    expect(gpu.truncatedJoules).toBeCloseTo(40 * POWER_WATTS, 6);
    expect(gpu.conserved()).toBe(true);
  });

  it('keeps half of each 40 s request for its sender while another re-claims the recent past every 2 s (F8: re-claims)', () => {
    const gpu = node();
    gpu.runTo(100_000);
    const victimStarts = [100_000, 140_000, 180_000, 220_000, 260_000];
    for (let nowMs = 100_000; nowMs <= 320_000; nowMs += 1000) {
      gpu.runTo(nowMs);
      const ended = victimStarts.find((startMs) => startMs + 41_000 === nowMs);
      if (ended !== undefined) gpu.ledger.addSpans([span('victim', '10.0.0.7', ended, ended + 40_000)]);
      // The attacker starts once the victim's first request settled, and re-sends every 2 s.
      if (nowMs > 160_000 && nowMs % 2000 === 0) gpu.ledger.addSpans([span('attacker', '10.0.0.66', nowMs - 100_000, nowMs)]);
    }
    gpu.runTo(500_000);
    const victim = gpu.requestEnergy.filter((request) => request.model === 'victim').map((request) => request.energyJoules);
    expect(victim).toHaveLength(5);
    expect(victim[0]).toBeCloseTo(40 * POWER_WATTS, 6);
    // In flight when the attacker first sent (at 162 s): [140 s, 147 s) had closed under the lag and
    // went to the attacker; the other 33 s waited the claim window and were shared.
    expect(victim[1]).toBeCloseTo(16.5 * POWER_WATTS, 6);
    // Every later request: half of 8,800 J (first-come gave 3,456-3,621 J).
    for (const joules of victim.slice(2)) expect(joules).toBeCloseTo(20 * POWER_WATTS, 6);
    expect(gpu.conserved()).toBe(true);
  });

  it('counts each lost joule once however often a truncated span is re-sent (F11)', () => {
    const gpu = node();
    gpu.runTo(50_000);
    // llama took [10 s, 30 s) late; mistral re-sends a span over [0 s, 30 s) 200 times.
    expect(gpu.ledger.addSpans([span('llama', '10.0.0.7', 10_000, 30_000)])).toEqual(['accepted']);
    for (let send = 0; send < 200; send++) {
      expect(gpu.ledger.addSpans([span('mistral', '10.0.0.7', 0, 30_000)])).toEqual(['truncated']);
      gpu.runTo(50_000 + (send + 1) * 1000);
    }
    gpu.runTo(700_000);
    // 20 s of llama's at 220 W, once: not 200 x 4,400 J (the node used 154,000 J in all).
    expect(gpu.truncatedJoules).toBeCloseTo(20 * POWER_WATTS, 6);
    expect(gpu.energyByModel.get('mistral')).toBeCloseTo(10 * POWER_WATTS, 6);
    expect(gpu.conserved()).toBe(true);
  });
});
