// Readings of every device -> closed intervals of joules, plus the monotonic total per device.
import type { Reading } from '../devices/source.ts';
import { counterDelta, type CounterEvent } from './counter.ts';
import { trapezoidJoules } from './integrate.ts';

/** Energy one device used over [startMs, endMs). */
export interface EnergyInterval {
  deviceId: string;
  startMs: number;
  endMs: number;
  energyJoules: number;
}

export interface DeviceEnergy {
  /** Monotonic joules since the daemon started measuring the device. */
  totalJoules: number;
  /** Latest power: the hardware's instant value when it gives one, else the last interval's mean. Never above the bound. */
  powerWatts: number;
  lastReadingMs: number;
}

type MeterEvent = CounterEvent | 'gap';

/** What one reading did: the interval it closed (none for a baseline, a gap or a glitch) and anything unusual. */
export interface MeterStep {
  interval?: EnergyInterval;
  /** Set for wraps, resets, gaps and implausible readings; absent for an ordinary step. */
  event?: Exclude<MeterEvent, 'advance'>;
}

interface DeviceState extends DeviceEnergy {
  /** The last plausible reading: the next interval starts here. */
  last: Reading;
  /** The previous reading was implausible too: two in a row mean the counter moved for good (re-baseline). */
  rejectedLast: boolean;
}

export interface EnergyMeterOptions {
  /**
   * Power samples further apart than this are not integrated: the energy in a gap is unknown,
   * and inventing it would be worse than a hole. Counters are exact across gaps and ignore it.
   */
  maxGapMs: number;
}

export class EnergyMeter {
  readonly #devices = new Map<string, DeviceState>();
  readonly #options: EnergyMeterOptions;

  constructor(options: EnergyMeterOptions) {
    this.#options = options;
  }

  /**
   * Takes one reading of a device whose power cannot exceed `maxWatts` (energy/plausibility.ts).
   * An implausible reading adds nothing and is not a baseline: the next plausible one closes the
   * interval from the last good reading (bridging the glitch). When the next one is implausible too,
   * the counter has moved for good and becomes the new baseline, losing those intervals' energy.
   */
  add(reading: Reading, maxWatts: number): MeterStep {
    const state = this.#devices.get(reading.deviceId);
    if (!state) {
      if (!plausibleFirst(reading, maxWatts)) return { event: 'implausible' };
      this.#devices.set(reading.deviceId, {
        last: reading,
        rejectedLast: false,
        totalJoules: 0,
        powerWatts: instantWatts(reading, maxWatts) ?? 0,
        lastReadingMs: reading.timeMs,
      });
      return {};
    }
    const elapsedMs = reading.timeMs - state.last.timeMs;
    if (elapsedMs <= 0) return {};
    const { energyJoules, event } = this.#energyBetween(state.last, reading, elapsedMs, maxWatts);
    if (event === 'implausible') {
      if (state.rejectedLast && reading.kind === 'counter' && plausibleFirst(reading, maxWatts)) this.#rebaseline(state, reading, maxWatts);
      else state.rejectedLast = true;
      return { event };
    }
    const startMs = state.last.timeMs;
    state.last = reading;
    state.rejectedLast = false;
    state.lastReadingMs = reading.timeMs;
    if (energyJoules === undefined) {
      state.powerWatts = instantWatts(reading, maxWatts) ?? state.powerWatts;
      return event ? { event } : {};
    }
    state.totalJoules += energyJoules;
    state.powerWatts = instantWatts(reading, maxWatts) ?? energyJoules / (elapsedMs / 1000);
    const interval = { deviceId: reading.deviceId, startMs, endMs: reading.timeMs, energyJoules };
    return event ? { interval, event } : { interval };
  }

  #rebaseline(state: DeviceState, reading: Reading, maxWatts: number): void {
    state.last = reading;
    state.rejectedLast = false;
    state.lastReadingMs = reading.timeMs;
    state.powerWatts = instantWatts(reading, maxWatts) ?? 0;
  }

  #energyBetween(previous: Reading, current: Reading, elapsedMs: number, maxWatts: number): { energyJoules?: number; event?: MeterStep['event'] } {
    const maxJoules = maxWatts * (elapsedMs / 1000);
    if (current.kind === 'counter' && previous.kind === 'counter') {
      const { deltaUnits, event } = counterDelta(previous.value, current.value, maxJoules / current.unitJoules, current.wrapAt);
      if (event === 'implausible') return { event };
      return { energyJoules: deltaUnits * current.unitJoules, ...(event === 'advance' ? {} : { event }) };
    }
    if (current.kind === 'power' && previous.kind === 'power') {
      if (current.watts > maxWatts) return { event: 'implausible' };
      if (elapsedMs > this.#options.maxGapMs) return { event: 'gap' };
      return { energyJoules: trapezoidJoules(previous.watts, current.watts, elapsedMs) };
    }
    // The source switched between counter and power (a counter became unsupported): restart from here.
    return {};
  }

  energy(deviceId: string): DeviceEnergy | undefined {
    const state = this.#devices.get(deviceId);
    return state && { totalJoules: state.totalJoules, powerWatts: state.powerWatts, lastReadingMs: state.lastReadingMs };
  }
}

/** A reading that can stand as a baseline: a power sample within the bound, a counter within its range. */
function plausibleFirst(reading: Reading, maxWatts: number): boolean {
  if (reading.kind === 'power') return reading.watts <= maxWatts;
  return reading.wrapAt === undefined || reading.value <= reading.wrapAt;
}

/** The hardware's own power figure when it has one within the bound; a figure above it is a glitch and is left out. */
function instantWatts(reading: Reading, maxWatts: number): number | undefined {
  const watts = reading.watts;
  return watts !== undefined && watts <= maxWatts ? watts : undefined;
}
