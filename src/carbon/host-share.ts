// Embodied emissions of estimated devices (`measurement.method="model"`): on a VM or in a container
// without RAPL the estimator models the vCPUs and memory the guest sees, not whole parts, so they are
// charged their share of the reference server the part defaults describe (Cloud Carbon Footprint's
// M = TE x TR/EL x RR/TR with RR/TR = guest vCPUs / host vCPUs; memory shared by GiB).
import type { Device, HwType } from '../devices/source.ts';
import embodiedDefaults from './data/embodied-defaults.json' with { type: 'json' };
import type { EmbodiedFactor } from './embodied.ts';

const GIB_BYTES = 2 ** 30;
const DEFAULTS = embodiedDefaults.defaults as Record<HwType, EmbodiedFactor>;
const REFERENCE = embodiedDefaults.referenceServer;

/** kgCO2e one vCPU stands for: its share of the server's cpu packages. */
export const CPU_KG_PER_VCPU = (REFERENCE.cpuPackages * DEFAULTS.cpu.manufacturingKgCo2e) / REFERENCE.vcpus;
/** kgCO2e one vCPU stands for of the chassis (motherboard, power supplies, assembly, case). */
export const PLATFORM_KG_PER_VCPU = DEFAULTS.platform.manufacturingKgCo2e / REFERENCE.vcpus;
/** kgCO2e one GiB of memory stands for: its share of the server's memory domains. */
export const MEMORY_KG_PER_GIB = (REFERENCE.memoryDomains * DEFAULTS.memory.manufacturingKgCo2e) / REFERENCE.memoryGib;

export interface HostShareContext {
  /**
   * Whether the estimated cpu also carries its vCPUs' share of the chassis: yes unless the host has a
   * `platform` device, which is charged the chassis itself.
   */
  cpuCarriesPlatform: boolean;
}

/**
 * The estimated device's share of the reference server, over the reference server's lifetime; undefined
 * when the device does not say how much of the host it models (then the whole-part default applies).
 * Reads the estimator's `info.cpus` (logical CPUs in /proc/stat) and `info.memoryBytes` (MemTotal).
 */
export function hostShareFactor(device: Pick<Device, 'type' | 'info'>, context: HostShareContext): EmbodiedFactor | undefined {
  const lifetimeYears = REFERENCE.lifetimeYears;
  if (device.type === 'cpu') {
    const vcpus = positiveNumber(device.info?.cpus);
    if (vcpus === undefined) return undefined;
    const kgPerVcpu = CPU_KG_PER_VCPU + (context.cpuCarriesPlatform ? PLATFORM_KG_PER_VCPU : 0);
    return { manufacturingKgCo2e: vcpus * kgPerVcpu, lifetimeYears };
  }
  if (device.type === 'memory') {
    const bytes = positiveNumber(device.info?.memoryBytes);
    if (bytes === undefined) return undefined;
    return { manufacturingKgCo2e: (bytes / GIB_BYTES) * MEMORY_KG_PER_GIB, lifetimeYears };
  }
  return undefined;
}

function positiveNumber(text: string | undefined): number | undefined {
  const value = Number(text);
  return text !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}
