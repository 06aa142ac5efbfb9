// The list of device sources (node_exporter's collector registry) and the discovery that decides
// which device classes are left to the estimator.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { EstimatorSource, type EstimatedClass } from './estimator.ts';
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
    new RaplSource({ hostRoot, reader, logger: logger.child({ source: 'rapl' }) }),
    new HwmonSource({ hostRoot, reader, logger: logger.child({ source: 'hwmon' }) }),
    new NvmlSource({ libraryPath: config.nvmlLibrary, timeoutMs: config.deviceTimeout, logger: logger.child({ source: 'nvml' }) }),
    new AmdGpuSource({ hostRoot, reader }),
  ];
}

export interface DeviceInventory {
  /** Sources that found at least one device, the estimator last when it is needed. */
  sources: DeviceSource[];
  devices: Device[];
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

const ESTIMATE_FIX =
  'measured CPU and memory power comes from RAPL: run on bare metal (or a VM that passes RAPL through) with the host ' +
  '/sys under --host-root and read access to energy_uj (see the rapl problems for the exact cause)';

/**
 * Discovers every source (never throws), drops those that found nothing, and adds the estimator for
 * each class (cpu, memory) that no device measures towards the host total, i.e. no device of that
 * hw.type with hostRole `part` or `whole`. A `sub` device (a core zone, an hwmon sensor) does not
 * count: it is not summed into hw.host.*, so the class would be missing from the host figure.
 */
export async function discoverAll(sources: DeviceSource[], options: DiscoverOptions): Promise<DeviceInventory> {
  const { logger } = options;
  const found = await Promise.all(sources.map((source) => discoverOne(source, logger)));
  const inventory: DeviceInventory = { sources: [], devices: [], problems: [], estimatedClasses: [] };
  for (const [index, discovery] of found.entries()) {
    const source = sources[index]!;
    inventory.problems.push(...discovery.problems);
    if (discovery.devices.length === 0) {
      await source.close?.().catch((error: unknown) => logger.debug({ err: error, source: source.name }, 'close failed'));
      continue;
    }
    inventory.sources.push(source);
    inventory.devices.push(...discovery.devices);
  }

  const measured = new Set(inventory.devices.filter((device) => device.hostRole === 'part' || device.hostRole === 'whole').map((device) => device.type));
  inventory.estimatedClasses = ESTIMABLE_CLASSES.filter((deviceClass) => !measured.has(deviceClass));
  if (inventory.estimatedClasses.length === 0) return inventory;

  const estimator = new EstimatorSource({ hostRoot: options.hostRoot, classes: inventory.estimatedClasses, reader: options.reader });
  const estimated = await discoverOne(estimator, logger);
  inventory.sources.push(estimator);
  inventory.devices.push(...estimated.devices);
  inventory.problems.push(
    ...estimated.problems,
    ...inventory.estimatedClasses.map((deviceClass) => ({
      source: estimator.name,
      message: `no hardware measures ${deviceClass} power: it is estimated (measurement.method="model"), see docs/methodology.md`,
      fix: ESTIMATE_FIX,
    })),
  );
  return inventory;
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
