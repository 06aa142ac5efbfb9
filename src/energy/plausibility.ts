// The physical bound on a device's power: a counter step or power sample implying more is a glitch
// (a bit flip, a firmware hiccup, a misread), never energy. See docs/methodology.md, "Implausible readings".
import type { Device, HwType } from '../devices/source.ts';

/**
 * The bound over an exposed power limit. Limits are long-term averages that hardware may exceed for a
 * while: Intel's PL2 is about twice PL1 (i9-13900K: 253 W over 125 W), NVML's enforced limit is held
 * over about a second, so a short excursion at 2x is real. 3x leaves room for both and still rejects
 * the glitches seen (a 1 J back-step read as a 262,143 J wrap, a 1e15 uJ jump).
 */
export const POWER_LIMIT_MARGIN = 3;

/**
 * Ceilings per device type when no limit is exposed: about twice the largest part shipping in 2025
 * (CPU: AMD EPYC 9965 and Intel Xeon 6980P, 500 W TDP; GPU: AMD Instinct MI355X, 1,400 W TBP; DRAM:
 * 24 DDR5 RDIMMs at about 15 W each, 360 W), and for a whole platform a DGX B200's 14.3 kW maximum
 * (psys, acpi_power_meter) rounded up. `other` sensors are unknown and get the platform's ceiling.
 */
export const POWER_CEILING_WATTS: Readonly<Record<HwType, number>> = {
  cpu: 1_000,
  'cpu-core': 1_000,
  uncore: 1_000,
  memory: 750,
  gpu: 3_000,
  platform: 20_000,
  other: 20_000,
};

/** The most power the device can plausibly draw, in watts. */
export function powerBoundWatts(device: Pick<Device, 'type' | 'powerLimitWatts'>): number {
  return device.powerLimitWatts ? device.powerLimitWatts * POWER_LIMIT_MARGIN : POWER_CEILING_WATTS[device.type];
}
