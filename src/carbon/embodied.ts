// Embodied (SCI `M`) emissions: manufacturing CO2e amortised linearly over the device lifetime, per device-second.
import type { HwType } from '../devices/source.ts';
import type { Config } from '../config.ts';
import embodiedDefaults from './data/embodied-defaults.json' with { type: 'json' };
import { SECONDS_PER_YEAR } from './units.ts';

export interface EmbodiedFactor {
  manufacturingKgCo2e: number;
  lifetimeYears: number;
}

const DEFAULTS = embodiedDefaults.defaults as Record<HwType, EmbodiedFactor>;

/** g CO2e per second of device time: kg x 1000 / (years x 365.25 d x 86400 s). */
export function gramsPerDeviceSecond(factor: EmbodiedFactor): number {
  return (factor.manufacturingKgCo2e * 1000) / (factor.lifetimeYears * SECONDS_PER_YEAR);
}

export class EmbodiedModel {
  constructor(private readonly overrides: Config['embodied']) {}

  /**
   * The first override whose `match` equals the hw.type or is a case-insensitive substring of the
   * device name wins (list order = priority); otherwise the type's default.
   */
  factorFor(deviceType: HwType, deviceName: string): EmbodiedFactor {
    const name = deviceName.toLowerCase();
    const override = this.overrides.find(
      ({ match }) => match.toLowerCase() === deviceType || name.includes(match.toLowerCase()),
    );
    return override ?? DEFAULTS[deviceType] ?? DEFAULTS.other;
  }

  grams(deviceType: HwType, deviceName: string, deviceSeconds: number): number {
    return gramsPerDeviceSecond(this.factorFor(deviceType, deviceName)) * deviceSeconds;
  }
}
