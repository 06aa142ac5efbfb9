// The koffi binding of the NVML calls footprint makes: prototypes, struct layouts and buffer sizes as
// declared in NVIDIA's nvml.h, and the INSUFFICIENT_SIZE protocol of the process list. Every call is
// synchronous and may block inside the driver, so this module is only used from the NVML worker thread
// (nvml-worker.ts), never from the sample loop's thread.
import koffi from 'koffi';
import { NVML_RETURN } from './nvml-return.ts';

const NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96;
const NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96;
const NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80;
const NVML_DEVICE_MIG_ENABLE = 1;
/** usedGpuMemory when the driver cannot tell (e.g. without permission to see other processes). */
const NVML_VALUE_NOT_AVAILABLE = 0xffff_ffff_ffff_ffffn;
/** Sizing retries: a process can start between the sizing call and the fetch. */
const PROCESS_LIST_ATTEMPTS = 4;

/** A non-success nvmlReturn_t from one call, with the library's own nvmlErrorString text. */
export class NvmlError extends Error {
  constructor(
    readonly code: number,
    readonly call: string,
    text: string,
  ) {
    super(`${call}: ${text}`);
  }
}

/** An opaque nvmlDevice_t (koffi 3 represents pointers as BigInt). */
export type NvmlDeviceHandle = bigint;

interface NvmlProcess {
  pid: number;
  /** Absent when the driver reports NVML_VALUE_NOT_AVAILABLE. */
  usedMemoryBytes?: number;
}

export interface NvmlLibrary {
  errorString(code: number): string;
  init(): void;
  shutdown(): void;
  driverVersion(): string;
  deviceCount(): number;
  handleByIndex(index: number): NvmlDeviceHandle;
  uuid(device: NvmlDeviceHandle): string;
  name(device: NvmlDeviceHandle): string;
  index(device: NvmlDeviceHandle): number;
  /** Board energy since the driver loaded, in millijoules (Volta and newer). */
  totalEnergyMillijoules(device: NvmlDeviceHandle): number;
  powerUsageMilliwatts(device: NvmlDeviceHandle): number;
  enforcedPowerLimitMilliwatts(device: NvmlDeviceHandle): number;
  powerManagementLimitMilliwatts(device: NvmlDeviceHandle): number;
  migEnabled(device: NvmlDeviceHandle): boolean;
  maxMigDeviceCount(device: NvmlDeviceHandle): number;
  migDeviceHandleByIndex(device: NvmlDeviceHandle, index: number): NvmlDeviceHandle;
  computeRunningProcesses(device: NvmlDeviceHandle): NvmlProcess[];
}

// Registers the named handle type the prototypes below refer to.
koffi.pointer('nvmlDevice_t', koffi.opaque());
const nvmlProcessInfo = koffi.struct('nvmlProcessInfo_t', {
  pid: 'unsigned int',
  usedGpuMemory: 'unsigned long long',
  gpuInstanceId: 'unsigned int',
  computeInstanceId: 'unsigned int',
});
const PROCESS_INFO_BYTES = koffi.sizeof(nvmlProcessInfo);

const PROTOTYPES = {
  nvmlInit_v2: 'int nvmlInit_v2()',
  nvmlShutdown: 'int nvmlShutdown()',
  nvmlErrorString: 'const char *nvmlErrorString(int result)',
  nvmlSystemGetDriverVersion: 'int nvmlSystemGetDriverVersion(_Out_ char *version, unsigned int length)',
  nvmlDeviceGetCount_v2: 'int nvmlDeviceGetCount_v2(_Out_ unsigned int *deviceCount)',
  nvmlDeviceGetHandleByIndex_v2: 'int nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ nvmlDevice_t *device)',
  nvmlDeviceGetUUID: 'int nvmlDeviceGetUUID(nvmlDevice_t device, _Out_ char *uuid, unsigned int length)',
  nvmlDeviceGetName: 'int nvmlDeviceGetName(nvmlDevice_t device, _Out_ char *name, unsigned int length)',
  nvmlDeviceGetIndex: 'int nvmlDeviceGetIndex(nvmlDevice_t device, _Out_ unsigned int *index)',
  nvmlDeviceGetTotalEnergyConsumption: 'int nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, _Out_ unsigned long long *energy)',
  nvmlDeviceGetPowerUsage: 'int nvmlDeviceGetPowerUsage(nvmlDevice_t device, _Out_ unsigned int *power)',
  nvmlDeviceGetEnforcedPowerLimit: 'int nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, _Out_ unsigned int *limit)',
  nvmlDeviceGetPowerManagementLimit: 'int nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, _Out_ unsigned int *limit)',
  nvmlDeviceGetMigMode: 'int nvmlDeviceGetMigMode(nvmlDevice_t device, _Out_ unsigned int *currentMode, _Out_ unsigned int *pendingMode)',
  nvmlDeviceGetMaxMigDeviceCount: 'int nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, _Out_ unsigned int *count)',
  nvmlDeviceGetMigDeviceHandleByIndex: 'int nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, _Out_ nvmlDevice_t *migDevice)',
  // The info buffer is passed as raw memory so its length can follow the sizing protocol.
  nvmlDeviceGetComputeRunningProcesses_v3: 'int nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, _Inout_ unsigned int *infoCount, void *infos)',
} as const;

type NvmlCall = keyof typeof PROTOTYPES;
type NvmlFunction = (...args: unknown[]) => number;

/** 64-bit values come back from koffi as a number when exact, else as a BigInt. */
function toNumber(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(value) : value;
}

function cString(buffer: Buffer): string {
  const end = buffer.indexOf(0);
  return buffer.toString('utf8', 0, end < 0 ? buffer.length : end);
}

/**
 * Loads NVML from `libraryPath` (a soname such as `libnvidia-ml.so.1` or a path). Throws when the library
 * cannot be loaded. A symbol missing from an older driver answers NVML_ERROR_FUNCTION_NOT_FOUND when called,
 * so one absent call degrades one feature instead of failing the load.
 */
export function loadNvml(libraryPath: string): NvmlLibrary {
  const lib = koffi.load(libraryPath);
  const bound = new Map<NvmlCall, NvmlFunction>();
  for (const [call, prototype] of Object.entries(PROTOTYPES) as [NvmlCall, string][]) {
    try {
      bound.set(call, lib.func(prototype) as NvmlFunction);
    } catch {
      // Absent from this driver version: calling it answers FUNCTION_NOT_FOUND.
    }
  }
  const invoke = (call: NvmlCall, ...args: unknown[]): number => bound.get(call)?.(...args) ?? NVML_RETURN.FUNCTION_NOT_FOUND;
  const errorStringOf = bound.get('nvmlErrorString') as ((code: number) => string | null) | undefined;
  const errorString = (code: number): string => errorStringOf?.(code) ?? `NVML error ${code}`;

  function check(call: NvmlCall, ...args: unknown[]): void {
    const code = invoke(call, ...args);
    if (code !== NVML_RETURN.SUCCESS) throw new NvmlError(code, call, errorString(code));
  }
  function unsigned(call: NvmlCall, device: NvmlDeviceHandle): number {
    const out = [0];
    check(call, device, out);
    return out[0]!;
  }
  function text(call: NvmlCall, bytes: number, ...leading: unknown[]): string {
    const buffer = Buffer.alloc(bytes);
    check(call, ...leading, buffer, bytes);
    return cString(buffer);
  }

  return {
    errorString,
    init: () => check('nvmlInit_v2'),
    shutdown: () => check('nvmlShutdown'),
    driverVersion: () => text('nvmlSystemGetDriverVersion', NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE),
    deviceCount() {
      const out = [0];
      check('nvmlDeviceGetCount_v2', out);
      return out[0]!;
    },
    handleByIndex(index) {
      const out: [NvmlDeviceHandle | null] = [null];
      check('nvmlDeviceGetHandleByIndex_v2', index, out);
      return out[0]!;
    },
    uuid: (device) => text('nvmlDeviceGetUUID', NVML_DEVICE_UUID_V2_BUFFER_SIZE, device),
    name: (device) => text('nvmlDeviceGetName', NVML_DEVICE_NAME_V2_BUFFER_SIZE, device),
    index: (device) => unsigned('nvmlDeviceGetIndex', device),
    totalEnergyMillijoules(device) {
      const out: [number | bigint] = [0];
      check('nvmlDeviceGetTotalEnergyConsumption', device, out);
      return toNumber(out[0]);
    },
    powerUsageMilliwatts: (device) => unsigned('nvmlDeviceGetPowerUsage', device),
    enforcedPowerLimitMilliwatts: (device) => unsigned('nvmlDeviceGetEnforcedPowerLimit', device),
    powerManagementLimitMilliwatts: (device) => unsigned('nvmlDeviceGetPowerManagementLimit', device),
    migEnabled(device) {
      const current = [0];
      check('nvmlDeviceGetMigMode', device, current, [0]);
      return current[0] === NVML_DEVICE_MIG_ENABLE;
    },
    maxMigDeviceCount: (device) => unsigned('nvmlDeviceGetMaxMigDeviceCount', device),
    migDeviceHandleByIndex(device, index) {
      const out: [NvmlDeviceHandle | null] = [null];
      check('nvmlDeviceGetMigDeviceHandleByIndex', device, index, out);
      return out[0]!;
    },
    computeRunningProcesses(device) {
      // The sizing protocol: ask with no buffer to learn the count, then fetch with headroom; a process
      // that starts in between makes the driver answer INSUFFICIENT_SIZE again with the new count.
      const count = [0];
      let buffer: Buffer | null = null;
      for (let attempt = 0; attempt < PROCESS_LIST_ATTEMPTS; attempt++) {
        const code = invoke('nvmlDeviceGetComputeRunningProcesses_v3', device, count, buffer);
        if (code === NVML_RETURN.SUCCESS) return decodeProcesses(buffer, count[0]!);
        if (code !== NVML_RETURN.INSUFFICIENT_SIZE) {
          throw new NvmlError(code, 'nvmlDeviceGetComputeRunningProcesses_v3', errorString(code));
        }
        const capacity = count[0]! + Math.max(4, count[0]! >> 2);
        buffer = Buffer.alloc(capacity * PROCESS_INFO_BYTES);
        count[0] = capacity;
      }
      throw new NvmlError(
        NVML_RETURN.INSUFFICIENT_SIZE,
        'nvmlDeviceGetComputeRunningProcesses_v3',
        `${errorString(NVML_RETURN.INSUFFICIENT_SIZE)} after ${PROCESS_LIST_ATTEMPTS} attempts`,
      );
    },
  };
}

function decodeProcesses(buffer: Buffer | null, count: number): NvmlProcess[] {
  const processes: NvmlProcess[] = [];
  for (let i = 0; i < count && buffer; i++) {
    const info = koffi.decode(buffer, i * PROCESS_INFO_BYTES, nvmlProcessInfo) as {
      pid: number;
      usedGpuMemory: number | bigint;
    };
    processes.push(
      BigInt(info.usedGpuMemory) === NVML_VALUE_NOT_AVAILABLE ? { pid: info.pid } : { pid: info.pid, usedMemoryBytes: toNumber(info.usedGpuMemory) },
    );
  }
  return processes;
}
