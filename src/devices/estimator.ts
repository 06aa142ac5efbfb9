// Estimated power for the device classes nothing measures (`measurement.method="model"`):
// CPU from utilisation with per-logical-CPU idle/max watts, memory from its size. Formulas, units and
// sources of the coefficients are in docs/methodology.md; estimates are never published as measurements.
import { cpus, totalmem } from 'node:os';
import type { Device, DeviceFailure, DeviceSource, Discovery, PowerReading, SampleResult } from './source.ts';
import { classifyReadError, hostPath, readTextFile, type FileReader } from './sysfs-read.ts';

export type EstimatedClass = 'cpu' | 'memory';

export interface EstimatorCoefficients {
  /** Watts one logical CPU draws at 0 % utilisation. */
  idleWattsPerCpu: number;
  /** Watts one logical CPU draws at 100 % utilisation. */
  maxWattsPerCpu: number;
  /** Watts per GiB of installed memory, independent of load. */
  wattsPerGib: number;
}

/**
 * Cloud Carbon Footprint's coefficients: AWS average min/max watts per vCPU (from SPECpower results)
 * and its memory coefficient of 0.392 W/GB (average of Crucial's and Micron's DDR4 figures).
 */
export const CCF_COEFFICIENTS: Readonly<EstimatorCoefficients> = { idleWattsPerCpu: 0.74, maxWattsPerCpu: 3.5, wattsPerGib: 0.392 };

/** Cumulative CPU time of the whole machine, in any unit (jiffies, ms): only ratios of deltas are used. */
export interface CpuTimes {
  busy: number;
  total: number;
  cpuCount: number;
}

const GIB_BYTES = 2 ** 30;

/** `cpuCount x (idle + (max - idle) x utilisation)`, utilisation in 0..1. */
export function estimateCpuWatts(cpuCount: number, utilisation: number, coefficients: EstimatorCoefficients): number {
  const { idleWattsPerCpu, maxWattsPerCpu } = coefficients;
  return cpuCount * (idleWattsPerCpu + (maxWattsPerCpu - idleWattsPerCpu) * utilisation);
}

/** `memory GiB x W/GiB`. */
export function estimateMemoryWatts(memoryBytes: number, coefficients: EstimatorCoefficients): number {
  return (memoryBytes / GIB_BYTES) * coefficients.wattsPerGib;
}

/** Busy share of the CPU time between two samples, 0..1; undefined when no time passed. */
export function utilisationBetween(previous: CpuTimes, next: CpuTimes): number | undefined {
  const totalDelta = next.total - previous.total;
  if (!(totalDelta > 0)) return undefined;
  return Math.min(1, Math.max(0, (next.busy - previous.busy) / totalDelta));
}

/**
 * The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal [guest guest_nice].
 * guest time is already inside user and nice, so only the first eight fields count; idle and iowait are not busy.
 */
export function parseProcStat(text: string): CpuTimes {
  const fields = /^cpu\s+([\d ]+)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number);
  if (!fields || fields.length < 4) throw new Error('no aggregate cpu line in /proc/stat');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, cpuCount: text.match(/^cpu\d+\s/gm)?.length ?? 1 };
}

/** MemTotal of /proc/meminfo, in bytes (the file says kB but means KiB). */
export function parseMemTotalBytes(text: string): number {
  const kibibytes = /^MemTotal:\s+(\d+)\s*kB/m.exec(text)?.[1];
  if (kibibytes === undefined) throw new Error('no MemTotal in /proc/meminfo');
  return Number(kibibytes) * 1024;
}

/** This process's own view, for a host root without /proc: the same kernel counters through libuv. */
function processCpuTimes(): CpuTimes {
  const all = cpus();
  let busy = 0;
  let idle = 0;
  for (const { times } of all) {
    busy += times.user + times.nice + times.sys + times.irq;
    idle += times.idle;
  }
  return { busy, total: busy + idle, cpuCount: all.length };
}

export interface EstimatorSourceOptions {
  hostRoot: string;
  /** The classes to estimate: those no hardware source measures. */
  classes: EstimatedClass[];
  coefficients?: Partial<EstimatorCoefficients>;
  reader?: FileReader;
  /** CPU times; default `<hostRoot>/proc/stat`, or os.cpus() when the host root has no /proc. */
  readCpuTimes?: () => Promise<CpuTimes>;
  /** Installed memory; default MemTotal of `<hostRoot>/proc/meminfo`, or os.totalmem(). */
  readMemoryBytes?: () => Promise<number>;
}

const ESTIMATOR_CPU_ID = 'estimator:cpu';
const ESTIMATOR_MEMORY_ID = 'estimator:memory';
export const ESTIMATOR_IDS: Readonly<Record<EstimatedClass, string>> = { cpu: ESTIMATOR_CPU_ID, memory: ESTIMATOR_MEMORY_ID };

export class EstimatorSource implements DeviceSource {
  readonly name = 'estimator';
  readonly #hostRoot: string;
  #classes: EstimatedClass[];
  readonly #coefficients: EstimatorCoefficients;
  readonly #reader: FileReader;
  readonly #injectedCpuTimes: (() => Promise<CpuTimes>) | undefined;
  readonly #injectedMemoryBytes: (() => Promise<number>) | undefined;
  /** Chosen at discovery; undefined while CPU is not estimated. */
  #readCpuTimes: (() => Promise<CpuTimes>) | undefined;
  #previousCpuTimes: CpuTimes | undefined;
  /** Kept when no CPU time passed between two reads (sub-jiffy intervals), so the estimate does not flicker to idle. */
  #lastUtilisation = 0;
  #memoryBytes = 0;

  constructor(options: EstimatorSourceOptions) {
    this.#hostRoot = options.hostRoot;
    this.#classes = options.classes;
    this.#coefficients = { ...CCF_COEFFICIENTS, ...options.coefficients };
    this.#reader = options.reader ?? readTextFile;
    this.#injectedCpuTimes = options.readCpuTimes;
    this.#injectedMemoryBytes = options.readMemoryBytes;
  }

  async discover(): Promise<Discovery> {
    const devices: Device[] = [];
    const common = { vendor: 'footprint', method: 'model', hostRole: 'part' } as const;
    if (this.#classes.includes('cpu')) {
      const { read, from } = await this.#chooseCpuTimes();
      this.#readCpuTimes = read;
      this.#previousCpuTimes = await read().catch(() => undefined);
      const { idleWattsPerCpu, maxWattsPerCpu } = this.#coefficients;
      devices.push({
        id: ESTIMATOR_CPU_ID,
        type: 'cpu',
        name: 'estimated cpu',
        ...common,
        info: {
          formula: 'cpus x (idle + (max - idle) x utilisation)',
          cpus: String(this.#previousCpuTimes?.cpuCount ?? 'unknown'),
          idleWattsPerCpu: String(idleWattsPerCpu),
          maxWattsPerCpu: String(maxWattsPerCpu),
          utilisationFrom: from,
        },
      });
    }
    if (this.#classes.includes('memory')) {
      const { bytes, from } = await this.#memorySize();
      this.#memoryBytes = bytes;
      devices.push({
        id: ESTIMATOR_MEMORY_ID,
        type: 'memory',
        name: 'estimated memory',
        ...common,
        info: { formula: 'GiB x W/GiB', memoryBytes: String(bytes), wattsPerGib: String(this.#coefficients.wattsPerGib), sizeFrom: from },
      });
    }
    return { devices, problems: [] };
  }

  /** Hardware measures this class now (found by rediscovery): its device is no longer read. */
  stopEstimating(deviceClass: EstimatedClass): void {
    this.#classes = this.#classes.filter((estimated) => estimated !== deviceClass);
    if (deviceClass === 'cpu') this.#readCpuTimes = undefined;
  }

  async #chooseCpuTimes(): Promise<{ read: () => Promise<CpuTimes>; from: string }> {
    if (this.#injectedCpuTimes) return { read: this.#injectedCpuTimes, from: 'injected' };
    const statPath = hostPath(this.#hostRoot, 'proc/stat');
    const fromHostRoot = async () => parseProcStat(await this.#reader(statPath));
    try {
      await fromHostRoot();
      return { read: fromHostRoot, from: statPath };
    } catch {
      return { read: async () => processCpuTimes(), from: 'os.cpus()' };
    }
  }

  async #memorySize(): Promise<{ bytes: number; from: string }> {
    const meminfoPath = hostPath(this.#hostRoot, 'proc/meminfo');
    const fromHostRoot = async () => parseMemTotalBytes(await this.#reader(meminfoPath));
    const [read, from] = this.#injectedMemoryBytes ? [this.#injectedMemoryBytes, 'injected'] : [fromHostRoot, meminfoPath];
    try {
      return { bytes: await read(), from };
    } catch {
      return { bytes: totalmem(), from: 'os.totalmem()' };
    }
  }

  async read(nowMs: number): Promise<SampleResult> {
    const readings: PowerReading[] = [];
    const failures: DeviceFailure[] = [];
    if (this.#readCpuTimes) {
      try {
        readings.push({ kind: 'power', deviceId: ESTIMATOR_CPU_ID, timeMs: nowMs, watts: await this.#cpuWatts(this.#readCpuTimes) });
      } catch (error) {
        failures.push({
          deviceId: ESTIMATOR_CPU_ID,
          ...classifyReadError(error, hostPath(this.#hostRoot, 'proc/stat'), 'make the host /proc readable at --host-root'),
        });
      }
    }
    if (this.#classes.includes('memory')) {
      readings.push({ kind: 'power', deviceId: ESTIMATOR_MEMORY_ID, timeMs: nowMs, watts: estimateMemoryWatts(this.#memoryBytes, this.#coefficients) });
    }
    return { readings, failures };
  }

  async #cpuWatts(readCpuTimes: () => Promise<CpuTimes>): Promise<number> {
    const times = await readCpuTimes();
    if (this.#previousCpuTimes) this.#lastUtilisation = utilisationBetween(this.#previousCpuTimes, times) ?? this.#lastUtilisation;
    this.#previousCpuTimes = times;
    return estimateCpuWatts(times.cpuCount, this.#lastUtilisation, this.#coefficients);
  }
}
