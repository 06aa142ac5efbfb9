// The one small interface every hardware source implements (node_exporter's collector shape).
// Sources read raw values; turning them into joules is the energy stage's job.

export type HwType = 'cpu' | 'memory' | 'gpu' | 'platform' | 'cpu-core' | 'uncore' | 'other';

/** How the energy of a device is known: a hardware energy counter, integrated power samples, or a load model. */
export type MeasurementMethod = 'counter' | 'power' | 'model';

/**
 * How a device contributes to the whole-host figure (`hw.host.*`):
 * - `whole`: covers the platform (RAPL psys); when present it is the host value for the platform part.
 * - `part`: a non-overlapping part of the platform (RAPL package, dram); summed when no `whole` exists.
 * - `sub`: nested inside a `part` (RAPL core, uncore); never added to the host.
 * - `external`: powered beside the platform (discrete GPUs); always added.
 */
export type HostRole = 'whole' | 'part' | 'sub' | 'external';

export interface Device {
  /** Stable identity: GPU UUID, `rapl:package-0`, `hwmon:<chip>:power1`, `estimator:cpu`. */
  id: string;
  type: HwType;
  name: string;
  vendor: string;
  method: MeasurementMethod;
  hostRole: HostRole;
  /** Power limit in watts, when the hardware reports one. */
  powerLimitWatts?: number;
  /** The device this one is nested in (a RAPL sub-zone's package, a MIG instance's board). */
  parentId?: string;
  /** Free-form facts for `doctor` and logs (driver version, sysfs path, MIG instances). */
  info?: Record<string, string>;
}

/** A raw energy counter value in the device's own unit; the energy stage makes it monotonic. */
export interface CounterReading {
  kind: 'counter';
  deviceId: string;
  timeMs: number;
  /** Raw counter value, an integer in `unitJoules` units (RAPL: microjoules, NVML: millijoules). */
  value: number;
  /** Joules per counter unit (1e-6 for RAPL, 1e-3 for NVML). */
  unitJoules: number;
  /** The counter wraps to 0 after this value (RAPL `max_energy_range_uj`); absent when it never wraps. */
  wrapAt?: number;
  /** Instantaneous power the hardware reported alongside, when it does. */
  watts?: number;
}

/** An instantaneous (or short-average) power sample in watts; the energy stage integrates it. */
export interface PowerReading {
  kind: 'power';
  deviceId: string;
  timeMs: number;
  watts: number;
}

export type Reading = CounterReading | PowerReading;

/** A device that could not be read this time. The source keeps being asked; it decides its own backoff. */
export interface DeviceFailure {
  deviceId: string;
  /** Low-cardinality cause for `hw.errors{error.type}`: `permission_denied`, `not_found`, `gpu_lost`, `timeout`... */
  errorType: string;
  message: string;
  /** What the operator can do about it, for the log line and `doctor`. */
  fix?: string;
  /**
   * Set while the source backs off: the device was not read this time and is next tried at this time.
   * The pipeline keeps the device failed but counts only attempted reads in hw.errors.
   */
  retryAtMs?: number;
}

export interface SampleResult {
  readings: Reading[];
  failures: DeviceFailure[];
}

/** A process using a GPU, for attribution to pods. */
export interface DeviceProcess {
  deviceId: string;
  pid: number;
  usedMemoryBytes?: number;
}

/** Something a source could not do at discovery, for `doctor` and the start-up line. */
export interface SourceProblem {
  source: string;
  message: string;
  fix: string;
}

export interface Discovery {
  devices: Device[];
  problems: SourceProblem[];
}

/** The board a device allocated to a pod runs on, and its weight there (compute slices). */
export interface GpuPlacement {
  boardId: string;
  slices: number;
}

/**
 * Optional capability of a GPU source whose boards can be partitioned or shared (NVIDIA MIG and
 * time-slicing): it resolves the device ids the kubelet's device plugin advertises to its boards,
 * so attribution never parses a vendor's id format (Kepler's optional-interface pattern).
 */
export interface GpuPartitions {
  /** The board of an allocated device id, or undefined when it is not one of this source's. */
  placeAllocation(deviceId: string, resourceName: string): GpuPlacement | undefined;
}

export function hasGpuPartitions(source: DeviceSource): source is DeviceSource & GpuPartitions {
  return typeof (source as Partial<GpuPartitions>).placeAllocation === 'function';
}

export interface DeviceSource {
  readonly name: string;
  /**
   * True when discover() may run again while the source is being read (periodic rediscovery): it then
   * adds what it finds and keeps reading what it found before, so a device that vanished fails and is
   * retried instead of being forgotten. Sources without it (NVML holds a driver session in a worker
   * thread) are asked again only while they have found nothing.
   */
  readonly rediscoverable?: boolean;
  /** Finds the devices. Never throws for missing hardware: reports it as a problem. */
  discover(): Promise<Discovery>;
  /**
   * Reads every discovered device once. Never throws: a failing device is a DeviceFailure. Never logs
   * failures either: the pipeline owns failure logs and counts (node_exporter's execute() idea).
   */
  read(nowMs: number): Promise<SampleResult>;
  /** Processes running on this source's devices (GPUs), when the hardware reports them. */
  processes?(): Promise<DeviceProcess[]>;
  close?(): Promise<void>;
}

/**
 * What a source reads after a repeated discovery: the entries found now (fresh paths) and, in their old
 * place, those found before but not now, so their reads fail and are retried rather than stop silently.
 */
export function keepKnown<T>(known: readonly T[], found: readonly T[], idOf: (entry: T) => string): T[] {
  const byId = new Map(known.map((entry) => [idOf(entry), entry]));
  for (const entry of found) byId.set(idOf(entry), entry);
  return [...byId.values()];
}
