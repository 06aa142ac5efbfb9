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
  /** Latest power: the hardware's instant value when it gives one, else the last interval's mean. */
  powerWatts: number;
  lastReadingMs: number;
}

export type MeterEvent = CounterEvent | 'gap';

interface DeviceState extends DeviceEnergy {
  last: Reading;
}

export interface EnergyMeterOptions {
  /**
   * Power samples further apart than this are not integrated: the energy in a gap is unknown,
   * and inventing it would be worse than a hole. Counters are exact across gaps and ignore it.
   */
  maxGapMs: number;
  /** Told about wraps, resets and gaps, for logs and health metrics. */
  onEvent?: (deviceId: string, event: MeterEvent) => void;
}

export class EnergyMeter {
  readonly #devices = new Map<string, DeviceState>();
  readonly #options: EnergyMeterOptions;

  constructor(options: EnergyMeterOptions) {
    this.#options = options;
  }

  /** Takes one reading; returns the interval it closes, or undefined for the first reading or a gap. */
  add(reading: Reading): EnergyInterval | undefined {
    const state = this.#devices.get(reading.deviceId);
    if (!state) {
      this.#devices.set(reading.deviceId, {
        last: reading,
        totalJoules: 0,
        powerWatts: reading.kind === 'power' ? reading.watts : (reading.watts ?? 0),
        lastReadingMs: reading.timeMs,
      });
      return undefined;
    }
    const elapsedMs = reading.timeMs - state.last.timeMs;
    if (elapsedMs <= 0) return undefined;
    const energyJoules = this.#energyBetween(state.last, reading, elapsedMs);
    const startMs = state.last.timeMs;
    state.last = reading;
    state.lastReadingMs = reading.timeMs;
    if (energyJoules === undefined) {
      if (reading.kind === 'power') state.powerWatts = reading.watts;
      return undefined;
    }
    state.totalJoules += energyJoules;
    state.powerWatts = reading.kind === 'power' ? reading.watts : (reading.watts ?? energyJoules / (elapsedMs / 1000));
    return { deviceId: reading.deviceId, startMs, endMs: reading.timeMs, energyJoules };
  }

  #energyBetween(previous: Reading, current: Reading, elapsedMs: number): number | undefined {
    if (current.kind === 'counter' && previous.kind === 'counter') {
      const { deltaUnits, event } = counterDelta(previous.value, current.value, current.wrapAt);
      if (event !== 'advance') this.#options.onEvent?.(current.deviceId, event);
      return deltaUnits * current.unitJoules;
    }
    if (current.kind === 'power' && previous.kind === 'power') {
      if (elapsedMs > this.#options.maxGapMs) {
        this.#options.onEvent?.(current.deviceId, 'gap');
        return undefined;
      }
      return trapezoidJoules(previous.watts, current.watts, elapsedMs);
    }
    // The source switched between counter and power (a counter became unsupported): restart from here.
    return undefined;
  }

  energy(deviceId: string): DeviceEnergy | undefined {
    const state = this.#devices.get(deviceId);
    return state && { totalJoules: state.totalJoules, powerWatts: state.powerWatts, lastReadingMs: state.lastReadingMs };
  }

  forget(deviceId: string): void {
    this.#devices.delete(deviceId);
  }
}
