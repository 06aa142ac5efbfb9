// The hardware inventory (DIMMs, CPU sockets and cores, system and chassis model) from systeminformation,
// read once per process and kept. systeminformation is imported only here, on first read, so a daemon
// that never asks does not load it.
import type { Systeminformation } from 'systeminformation';

export interface HardwareInventory {
  /** Size of each populated DIMM in bytes; empty when the machine does not list its modules. */
  dimmBytes: number[];
  /** CPU packages and physical cores over all of them; undefined when not told. */
  sockets?: number;
  physicalCores?: number;
  cpuBrand?: string;
  systemModel?: string;
  chassisType?: string;
  /** What could not be read, each with its consequence, for doctor and the startup log. */
  gaps: string[];
}

export interface InventoryData {
  memLayout: Pick<Systeminformation.MemLayoutData, 'size' | 'bank' | 'type' | 'formFactor'>[];
  cpu: Pick<Systeminformation.CpuData, 'manufacturer' | 'brand' | 'physicalCores' | 'processors'>;
  system: Pick<Systeminformation.SystemData, 'manufacturer' | 'model'>;
  chassis: Pick<Systeminformation.ChassisData, 'type'>;
}

/**
 * Turns systeminformation's answers into the inventory. memLayout lists DIMMs from `dmidecode -t 17`
 * (bank, type, form factor set); without dmidecode or root it returns one pseudo-module of the whole
 * memory with those fields empty, which says nothing about modules and is not taken as one.
 */
export function inventoryFrom(data: InventoryData): HardwareInventory {
  const gaps: string[] = [];
  const modules = data.memLayout.filter((module) => module.size > 0);
  const listed = modules.length > 0 && modules.every((module) => module.bank !== '' || module.type !== '' || module.formFactor !== '');
  if (!listed) gaps.push('DIMMs: not listed (memLayout needs dmidecode and root); embodied memory assumes 6 x 32 GB per memory domain');
  const sockets = data.cpu.processors > 0 ? data.cpu.processors : undefined;
  const physicalCores = data.cpu.physicalCores > 0 ? data.cpu.physicalCores : undefined;
  if (sockets === undefined || physicalCores === undefined) gaps.push('CPU: sockets or cores unknown; embodied cpu assumes 24 cores per package');
  const systemModel = [data.system.manufacturer, data.system.model]
    .map((part) => part.trim())
    .filter(Boolean)
    .join(' ');
  return {
    dimmBytes: listed ? modules.map((module) => module.size) : [],
    ...(sockets !== undefined && { sockets }),
    ...(physicalCores !== undefined && { physicalCores }),
    ...(data.cpu.brand.trim() && { cpuBrand: `${data.cpu.manufacturer} ${data.cpu.brand}`.trim() }),
    ...(systemModel && { systemModel }),
    ...(data.chassis.type.trim() && { chassisType: data.chassis.type.trim() }),
    gaps,
  };
}

/** The inventory when it cannot be read at all: everything assumed, and why. */
export function assumedInventory(reason: string): HardwareInventory {
  return {
    dimmBytes: [],
    gaps: [`not read (${reason}); embodied cpu and memory use the documented assumption (24 cores per package, 6 x 32 GB per memory domain)`],
  };
}

let cached: Promise<HardwareInventory> | undefined;

/** Reads the machine's inventory once; later calls get the same answer. */
function readInventory(): Promise<HardwareInventory> {
  cached ??= (async () => {
    try {
      // systeminformation is CommonJS: the bundle's import() gives its exports as `default` (tsx and
      // plain Node also copy them onto the namespace), so read them from there.
      const loaded = await import('systeminformation');
      const si = loaded.default ?? loaded;
      const [memLayout, cpu, system, chassis] = await Promise.all([si.memLayout(), si.cpu(), si.system(), si.chassis()]);
      return inventoryFrom({ memLayout, cpu, system, chassis });
    } catch (error) {
      return assumedInventory(`systeminformation: ${(error as Error).message}`);
    }
  })();
  return cached;
}

/**
 * The inventory of the host footprint measures: systeminformation describes the machine it runs on, so
 * it is read only when the host root is `/`; under another root (a fixture tree, a mounted host) it
 * would describe the wrong machine, and the documented assumption is used, stated.
 */
export function hostInventory(hostRoot: string): Promise<HardwareInventory> {
  if (hostRoot !== '/') return Promise.resolve(assumedInventory(`the host root is ${hostRoot}, and systeminformation reads this machine's /`));
  return readInventory();
}

/** The lines `doctor` shows. */
export function describeInventory(inventory: HardwareInventory): string[] {
  const gib = (bytes: number) => `${Math.round((bytes / 2 ** 30) * 10) / 10} GiB`;
  const lines = [
    `system: ${inventory.systemModel ?? 'unknown'}${inventory.chassisType ? ` (chassis: ${inventory.chassisType})` : ''}`,
    `cpu: ${inventory.cpuBrand ?? 'unknown'}, ${inventory.sockets ?? '?'} socket(s), ${inventory.physicalCores ?? '?'} physical core(s)`,
    `memory: ${inventory.dimmBytes.length > 0 ? `${inventory.dimmBytes.length} DIMM(s): ${inventory.dimmBytes.map(gib).join(', ')}` : 'DIMMs unknown'}`,
  ];
  return [...lines, ...inventory.gaps.map((gap) => `assumed: ${gap}`)];
}
