// Embodied (SCI `M`) emissions: manufacturing CO2e amortised linearly over the device lifetime, per device-second.
import type { Device, HwType } from '../devices/source.ts';
import type { Config } from '../config.ts';
import embodiedDefaults from './data/embodied-defaults.json' with { type: 'json' };
import { SECONDS_PER_YEAR } from './units.ts';

export interface EmbodiedFactor {
  manufacturingKgCo2e: number;
  lifetimeYears: number;
}

interface DefaultFactor extends EmbodiedFactor {
  /** Part of the host that the gpu default already includes (Chien et al. count a GPU's share of the server). */
  carriedByGpu?: boolean;
}

const DEFAULTS = embodiedDefaults.defaults as Record<HwType, DefaultFactor>;
const CARRIED: EmbodiedFactor = { manufacturingKgCo2e: 0, lifetimeYears: 1 };

/** g CO2e per second of device time: kg x 1000 / (years x 365.25 d x 86400 s). */
export function gramsPerDeviceSecond(factor: EmbodiedFactor): number {
  return (factor.manufacturingKgCo2e * 1000) / (factor.lifetimeYears * SECONDS_PER_YEAR);
}

export class EmbodiedModel {
  /** Whether a GPU on this host uses the gpu default, which already carries the host's CPUs, memory and chassis. */
  #hostCarriedByGpu = false;

  constructor(private readonly overrides: Config['embodied']) {}

  /** Tells the model the host's devices, so host parts are not counted both on their own and inside a GPU's figure. */
  useHostDevices(devices: readonly Pick<Device, 'type' | 'name'>[]): void {
    this.#hostCarriedByGpu = devices.some((device) => device.type === 'gpu' && !this.#override(device.type, device.name));
  }

  /**
   * The first override whose `match` equals the hw.type or is a case-insensitive substring of the
   * device name wins (list order = priority); otherwise the type's default.
   */
  factorFor(deviceType: HwType, deviceName: string): EmbodiedFactor {
    const override = this.#override(deviceType, deviceName);
    if (override) return override;
    const factor = DEFAULTS[deviceType] ?? DEFAULTS.other;
    return factor.carriedByGpu && this.#hostCarriedByGpu ? CARRIED : factor;
  }

  grams(deviceType: HwType, deviceName: string, deviceSeconds: number): number {
    return gramsPerDeviceSecond(this.factorFor(deviceType, deviceName)) * deviceSeconds;
  }

  #override(deviceType: HwType, deviceName: string): EmbodiedFactor | undefined {
    const name = deviceName.toLowerCase();
    return this.overrides.find(({ match }) => match.toLowerCase() === deviceType || name.includes(match.toLowerCase()));
  }
}
