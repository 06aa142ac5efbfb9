// Embodied figures from the machine's own inventory: BoaviztAPI's component models applied to the
// DIMMs and cores it reports, in place of the assumed 24 cores per package and 6 x 32 GB per memory domain.
import type { HardwareInventory } from '../devices/inventory.ts';
import type { HwType } from '../devices/source.ts';
import embodiedDefaults from './data/embodied-defaults.json' with { type: 'json' };
import type { EmbodiedFactor } from './embodied.ts';

const { cpu: CPU, ram: RAM } = embodiedDefaults.components;
const LIFETIME_YEARS = embodiedDefaults.referenceServer.lifetimeYears;
const GIB_BYTES = 2 ** 30;

/** kgCO2e of one CPU package: (cores x die area per core + base die area) x kg/cm2 + base kg. */
function cpuPackageKg(coresPerPackage: number): number {
  return (coresPerPackage * CPU.dieAreaPerCoreCm2 + CPU.baseDieAreaCm2) * CPU.kgCo2ePerCm2 + CPU.baseKgCo2e;
}

/** kgCO2e of one memory module: GiB / density x kg/cm2 + base kg (module sizes are binary). */
function dimmKg(moduleBytes: number): number {
  return (moduleBytes / GIB_BYTES / RAM.densityGbPerCm2) * RAM.kgCo2ePerCm2 + RAM.baseKgCo2e;
}

/**
 * A whole-part factor from the inventory, or undefined where it cannot tell (then the default applies):
 * a cpu package gets the inventory's cores per socket; a memory domain gets the machine's DIMMs shared
 * equally among its measured memory domains (RAPL dram, one per socket).
 */
export function inventoryFactor(type: HwType, inventory: HardwareInventory | undefined, memoryDomains: number): EmbodiedFactor | undefined {
  if (!inventory) return undefined;
  if (type === 'cpu' && inventory.sockets && inventory.physicalCores) {
    return { manufacturingKgCo2e: cpuPackageKg(inventory.physicalCores / inventory.sockets), lifetimeYears: LIFETIME_YEARS };
  }
  if (type === 'memory' && inventory.dimmBytes.length > 0 && memoryDomains > 0) {
    const totalKg = inventory.dimmBytes.reduce((sum, bytes) => sum + dimmKg(bytes), 0);
    return { manufacturingKgCo2e: totalKg / memoryDomains, lifetimeYears: LIFETIME_YEARS };
  }
  return undefined;
}
