// Embodied (SCI `M`) emissions: manufacturing CO2e amortised linearly over the device lifetime, per device-second.
import type { HardwareInventory } from '../devices/inventory.ts';
import type { Device, HwType } from '../devices/source.ts';
import type { Config } from '../config.ts';
import type { EnergyShare } from './accountant.ts';
import embodiedDefaults from './data/embodied-defaults.json' with { type: 'json' };
import { hostShareFactor } from './host-share.ts';
import { inventoryFactor } from './inventory-embodied.ts';
import { SECONDS_PER_YEAR } from './units.ts';

export interface EmbodiedFactor {
  manufacturingKgCo2e: number;
  lifetimeYears: number;
}

interface DefaultFactor extends EmbodiedFactor {
  /** Part of the host that the gpu default already includes (Chien et al. count a GPU's share of the server). */
  carriedByGpu?: boolean;
}

/**
 * What the model needs to know of a device: `method` and `info` tell an estimated device and the share
 * of the host it models; without them the device is charged its whole part.
 */
export type EmbodiedDevice = Pick<Device, 'id' | 'type' | 'name'> & Partial<Pick<Device, 'method' | 'info'>>;

const DEFAULTS = embodiedDefaults.defaults as Record<HwType, DefaultFactor>;
const CARRIED: EmbodiedFactor = { manufacturingKgCo2e: 0, lifetimeYears: 1 };

/** g CO2e per second of device time: kg x 1000 / (years x 365.25 d x 86400 s). */
export function gramsPerDeviceSecond(factor: EmbodiedFactor): number {
  return (factor.manufacturingKgCo2e * 1000) / (factor.lifetimeYears * SECONDS_PER_YEAR);
}

export class EmbodiedModel {
  /** Whether a GPU on this host uses the gpu default, which already carries the host's CPUs, memory and chassis. */
  #hostCarriedByGpu = false;
  /** Whether the host has a `platform` device, which is charged the chassis (so estimated CPUs are not). */
  #hostHasPlatform = false;
  /** Each host device's factor, fixed when the host's devices are known. */
  #factorById = new Map<string, EmbodiedFactor>();
  /** Measured memory domains of the host, among which the inventory's DIMMs are shared. */
  #memoryDomains = 0;

  readonly #overrides: Config['embodied'];
  /** The machine's inventory; without it (or where it cannot tell) the documented assumptions apply. */
  readonly #inventory: HardwareInventory | undefined;

  constructor(overrides: Config['embodied'], inventory?: HardwareInventory) {
    this.#overrides = overrides;
    this.#inventory = inventory;
  }

  /** Tells the model the host's devices, so host parts are not counted both on their own and inside a GPU's figure. */
  useHostDevices(devices: readonly EmbodiedDevice[]): void {
    this.#hostCarriedByGpu = devices.some((device) => device.type === 'gpu' && !this.#override(device.type, device.name));
    this.#hostHasPlatform = devices.some((device) => device.type === 'platform');
    this.#memoryDomains = devices.filter((device) => device.type === 'memory' && device.method !== 'model').length;
    this.#factorById = new Map(devices.map((device) => [device.id, this.factorFor(device)]));
  }

  /**
   * The first override whose `match` equals the hw.type or is a case-insensitive substring of the
   * device name wins (list order = priority); otherwise an estimated device's share of the reference
   * server, else the part as the inventory describes it, else the type's default per physical part.
   */
  factorFor(device: Omit<EmbodiedDevice, 'id'>): EmbodiedFactor {
    const override = this.#override(device.type, device.name);
    if (override) return override;
    const factor = DEFAULTS[device.type] ?? DEFAULTS.other;
    if (factor.carriedByGpu && this.#hostCarriedByGpu) return CARRIED;
    const share = device.method === 'model' ? hostShareFactor(device, { cpuCarriesPlatform: !this.#hostHasPlatform }) : undefined;
    return share ?? (device.method === 'model' ? undefined : inventoryFactor(device.type, this.#inventory, this.#memoryDomains)) ?? factor;
  }

  /**
   * Embodied grams of a share. A device the host list did not name (none should reach here) is charged
   * its whole part: the estimate errs high, never low.
   */
  grams(share: Pick<EnergyShare, 'deviceId' | 'deviceType' | 'deviceName' | 'deviceSeconds'>): number {
    const factor = this.#factorById.get(share.deviceId) ?? this.factorFor({ type: share.deviceType, name: share.deviceName });
    return gramsPerDeviceSecond(factor) * share.deviceSeconds;
  }

  #override(deviceType: HwType, deviceName: string): EmbodiedFactor | undefined {
    const name = deviceName.toLowerCase();
    return this.#overrides.find(({ match }) => match.toLowerCase() === deviceType || name.includes(match.toLowerCase()));
  }
}
