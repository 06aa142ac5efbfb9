// The list of device sources (node_exporter's collector registry) and the discovery that decides
// which device classes are left to the estimator.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { EstimatorSource, ESTIMATOR_IDS, type EstimatedClass } from './estimator.ts';
import { AmdGpuSource } from './amdgpu.ts';
import { HwmonSource } from './hwmon.ts';
import { NvmlSource } from './nvml.ts';
import { RaplSource } from './rapl.ts';
import type { Device, DeviceSource, SourceProblem } from './source.ts';
import type { FileReader } from './sysfs-read.ts';

export type DeviceSourcesConfig = Pick<Config, 'hostRoot' | 'nvmlLibrary' | 'deviceTimeout'>;

export interface DeviceSourceOverrides {
  /** Replaces file reads under the host root (tests inject EACCES, which root never gets from chmod). */
  reader?: FileReader;
}

/** The measuring sources, in discovery order. The estimator is added by discoverAll, once it knows what is missing. */
export function createDeviceSources(config: DeviceSourcesConfig, logger: Logger, overrides: DeviceSourceOverrides = {}): DeviceSource[] {
  const { hostRoot } = config;
  const { reader } = overrides;
  return [
    new RaplSource({ hostRoot, reader, logger: logger.child({ component: 'rapl' }) }),
    new HwmonSource({ hostRoot, reader, logger: logger.child({ component: 'hwmon' }) }),
    new NvmlSource({ libraryPath: config.nvmlLibrary, timeoutMs: config.deviceTimeout, logger: logger.child({ component: 'nvml' }) }),
    new AmdGpuSource({ hostRoot, reader }),
  ];
}

export interface DeviceInventory {
  /** Sources that found at least one device, the estimator last when it is needed. */
  sources: DeviceSource[];
  /** Sources that found nothing (NVML before the driver is installed): rediscover asks them again. */
  idleSources: DeviceSource[];
  devices: Device[];
  /** The source that found each device, so a source that fails marks exactly its own devices. */
  owners: Map<string, DeviceSource>;
  /** What could not be measured and the fix, for the start-up log and `doctor`. */
  problems: SourceProblem[];
  /** Classes whose power is modelled because no hardware source measures them. */
  estimatedClasses: EstimatedClass[];
}

export interface DiscoverOptions {
  hostRoot: string;
  logger: Logger;
  reader?: FileReader;
}

const ESTIMABLE_CLASSES: EstimatedClass[] = ['cpu', 'memory'];
/** EstimatorSource's name, which its problems carry. */
const ESTIMATOR_SOURCE = 'estimator';

const ESTIMATE_FIX =
  'measured CPU and memory power comes from RAPL: run on bare metal (or a VM that passes RAPL through) with the host ' +
  '/sys under --host-root and read access to energy_uj (see the rapl problems for the exact cause)';

/**
 * Discovers every source (never throws), sets aside those that found nothing, and adds the estimator
 * for each class (cpu, memory) that no device measures towards the host total, i.e. no device of that
 * hw.type with hostRole `part` or `whole`. A `sub` device (a core zone, an hwmon sensor) does not
 * count: it is not summed into hw.host.*, so the class would be missing from the host figure.
 */
export async function discoverAll(sources: DeviceSource[], options: DiscoverOptions): Promise<DeviceInventory> {
  const { logger } = options;
  const found = await Promise.all(sources.map((source) => discoverOne(source, logger)));
  const inventory: DeviceInventory = { sources: [], idleSources: [], devices: [], owners: new Map(), problems: [], estimatedClasses: [] };
  for (const [index, discovery] of found.entries()) {
    const source = sources[index]!;
    inventory.problems.push(...discovery.problems);
    if (discovery.devices.length === 0) {
      await closeIdle(source, logger);
      inventory.idleSources.push(source);
      continue;
    }
    inventory.sources.push(source);
    inventory.devices.push(...discovery.devices);
    for (const device of discovery.devices) inventory.owners.set(device.id, source);
  }

  inventory.estimatedClasses = unmeasuredClasses(inventory.devices);
  if (inventory.estimatedClasses.length === 0) return inventory;

  const estimator = new EstimatorSource({ hostRoot: options.hostRoot, classes: inventory.estimatedClasses, reader: options.reader });
  const estimated = await discoverOne(estimator, logger);
  inventory.sources.push(estimator);
  inventory.devices.push(...estimated.devices);
  for (const device of estimated.devices) inventory.owners.set(device.id, estimator);
  inventory.problems.push(...estimated.problems, ...estimateProblems(inventory.estimatedClasses));
  return inventory;
}

/** A device found by a rediscovery. */
export interface InventoryChange {
  device: Device;
  /** Estimator devices it takes over: it is the first device found that measures their class. */
  replaces: Device[];
}

/** The log line of a change: `rapl:package-0 is now measured (counter); estimator:cpu stops`. */
export function describeChange({ device, replaces }: InventoryChange): string {
  return `${device.id} is now measured (${device.method})${replaces.map((estimated) => `; ${estimated.id} stops`).join('')}`;
}

/**
 * Discovery again, applied to the inventory in place (holders of its arrays see the change): asks the
 * idle sources and the active sources that are `rediscoverable`, adds every device not seen before,
 * moves idle sources that found something to the active ones, and stops estimating a class once a
 * device measures it. Nothing is removed but those estimator devices: a device that vanished stays
 * and is reported failing by its source until it answers again. Never throws.
 */
export async function rediscover(inventory: DeviceInventory, options: DiscoverOptions): Promise<InventoryChange[]> {
  const { logger } = options;
  const estimator = inventory.sources.find((source): source is EstimatorSource => source instanceof EstimatorSource);
  const measuring = inventory.sources.filter((source) => source !== estimator);
  const asked = [...measuring.filter((source) => source.rediscoverable), ...inventory.idleSources];
  const found = await Promise.all(asked.map((source) => discoverOne(source, logger)));

  const known = new Set(inventory.devices.map((device) => device.id));
  const joined: Device[] = [];
  const idleSources: DeviceSource[] = [];
  for (const [index, discovery] of found.entries()) {
    const source = asked[index]!;
    for (const device of discovery.devices.filter((found) => !known.has(found.id))) {
      joined.push(device);
      inventory.owners.set(device.id, source);
    }
    if (!inventory.idleSources.includes(source)) continue;
    if (discovery.devices.length > 0) measuring.push(source);
    else {
      await closeIdle(source, logger);
      idleSources.push(source);
    }
  }

  const askedNames = new Set(asked.map((source) => source.name));
  const problems = [
    ...inventory.problems.filter((problem) => !askedNames.has(problem.source) && problem.source !== ESTIMATOR_SOURCE),
    ...found.flatMap((discovery) => discovery.problems),
  ];
  const devices = [...inventory.devices, ...joined];
  const unmeasured = unmeasuredClasses(devices);
  const estimatedClasses = inventory.estimatedClasses.filter((deviceClass) => unmeasured.includes(deviceClass));
  const changes: InventoryChange[] = joined.map((device) => ({ device, replaces: [] }));
  for (const deviceClass of inventory.estimatedClasses.filter((estimated) => !estimatedClasses.includes(estimated))) {
    estimator!.stopEstimating(deviceClass);
    const stopped = devices.findIndex((device) => device.id === ESTIMATOR_IDS[deviceClass]);
    changes.find(({ device }) => device.type === deviceClass && measuresClass(device))!.replaces.push(...devices.splice(stopped, 1));
  }
  if (estimatedClasses.length > 0) problems.push(...estimateProblems(estimatedClasses));

  replaceAll(inventory.sources, estimator && estimatedClasses.length > 0 ? [...measuring, estimator] : measuring);
  replaceAll(inventory.idleSources, idleSources);
  replaceAll(inventory.devices, devices);
  replaceAll(inventory.problems, problems);
  replaceAll(inventory.estimatedClasses, estimatedClasses);
  return changes;
}

/** Whether hardware measures the device's class towards the host total (see discoverAll); the estimator's own devices do not. */
function measuresClass(device: Device): boolean {
  return device.method !== 'model' && (device.hostRole === 'part' || device.hostRole === 'whole');
}

function unmeasuredClasses(devices: Device[]): EstimatedClass[] {
  const measured = new Set(devices.filter(measuresClass).map((device) => device.type));
  return ESTIMABLE_CLASSES.filter((deviceClass) => !measured.has(deviceClass));
}

function estimateProblems(classes: EstimatedClass[]): SourceProblem[] {
  return classes.map((deviceClass) => ({
    source: ESTIMATOR_SOURCE,
    message: `no hardware measures ${deviceClass} power: it is estimated (measurement.method="model"), see docs/methodology.md`,
    fix: ESTIMATE_FIX,
  }));
}

function replaceAll<T>(target: T[], items: T[]): void {
  target.splice(0, target.length, ...items);
}

/** Frees what a source that found nothing may hold; it is asked again at the next rediscovery. */
async function closeIdle(source: DeviceSource, logger: Logger): Promise<void> {
  await source.close?.().catch((error: unknown) => logger.debug({ err: error, source: source.name }, 'close failed'));
}

/** A source that breaks its never-throw promise is reported as a problem, not a crash. */
async function discoverOne(source: DeviceSource, logger: Logger) {
  const startedMs = performance.now();
  try {
    const discovery = await source.discover();
    logger.debug({ source: source.name, devices: discovery.devices.length, ms: Math.round(performance.now() - startedMs) }, 'source discovered');
    return discovery;
  } catch (error) {
    return {
      devices: [],
      problems: [{ source: source.name, message: `discovery failed: ${(error as Error).message}`, fix: 'report this as a footprint bug' }],
    };
  }
}
