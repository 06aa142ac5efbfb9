// The NVML worker thread: the only place NVML is called. koffi calls are synchronous, so a driver call
// that hangs blocks this thread and not the sample loop; NvmlSource bounds every request and abandons
// this thread if it stops answering.
import { parentPort, workerData } from 'node:worker_threads';
import { NvmlError, loadNvml, type NvmlDeviceHandle, type NvmlLibrary } from './nvml-library.ts';
import { NVML_RETURN } from './nvml-return.ts';
import {
  SharedSample,
  type BoardInfo,
  type CallError,
  type Envelope,
  type OpenReply,
  type OpenRequest,
  type ProcessList,
  type WorkerRequest,
} from './nvml-protocol.ts';

interface Slot {
  handle: NvmlDeviceHandle;
  energySupported: boolean;
}

const shared = new SharedSample(workerData.sampleBuffer as SharedArrayBuffer);
let nvml: NvmlLibrary | undefined;
let slots: (Slot | undefined)[] = [];

function callError(error: unknown, call: string): CallError {
  if (error instanceof NvmlError) return { call: error.call, code: error.code, message: error.message };
  return { call, code: NVML_RETURN.UNKNOWN, message: `${call}: ${(error as Error).message}` };
}

/** Runs an optional query; `fallback` when the board does not support it (or it fails). */
function optional<T>(query: () => T, fallback: T): T {
  try {
    return query();
  } catch {
    return fallback;
  }
}

function migInstanceUuids(lib: NvmlLibrary, handle: NvmlDeviceHandle): string[] {
  const uuids: string[] = [];
  const max = optional(() => lib.maxMigDeviceCount(handle), 0);
  for (let index = 0; index < max; index++) {
    // NOT_FOUND marks an unused instance index.
    const uuid = optional(() => lib.uuid(lib.migDeviceHandleByIndex(handle, index)), undefined);
    if (uuid) uuids.push(uuid);
  }
  return uuids;
}

function energySupported(lib: NvmlLibrary, handle: NvmlDeviceHandle): boolean {
  try {
    lib.totalEnergyMillijoules(handle);
    return true;
  } catch (error) {
    if (error instanceof NvmlError && error.code === NVML_RETURN.NOT_SUPPORTED) return false;
    throw error;
  }
}

function describe(lib: NvmlLibrary, handle: NvmlDeviceHandle, uuid: string, slot: number): BoardInfo {
  const limitMilliwatts = optional<number | undefined>(
    () => lib.enforcedPowerLimitMilliwatts(handle),
    optional(() => lib.powerManagementLimitMilliwatts(handle), undefined),
  );
  // Pre-Ampere boards answer NOT_SUPPORTED: no MIG.
  const migEnabled = optional(() => lib.migEnabled(handle), false);
  return {
    slot,
    uuid,
    name: optional(() => lib.name(handle), 'NVIDIA GPU'),
    index: lib.index(handle),
    energySupported: energySupported(lib, handle),
    ...(limitMilliwatts === undefined ? {} : { powerLimitMilliwatts: limitMilliwatts }),
    migEnabled,
    migInstanceUuids: migEnabled ? migInstanceUuids(lib, handle) : [],
  };
}

function open(request: OpenRequest): OpenReply {
  let lib: NvmlLibrary;
  try {
    lib = loadNvml(request.libraryPath);
  } catch (error) {
    return { ok: false, stage: 'load', error: callError(error, 'dlopen') };
  }
  try {
    lib.init();
  } catch (error) {
    return { ok: false, stage: 'init', error: callError(error, 'nvmlInit_v2') };
  }
  nvml = lib;
  const boards: BoardInfo[] = [];
  const unusable: (CallError & { index: number })[] = [];
  slots = [];
  let count = 0;
  try {
    count = lib.deviceCount();
  } catch (error) {
    unusable.push({ index: -1, ...callError(error, 'nvmlDeviceGetCount_v2') });
  }
  for (let index = 0; index < count; index++) {
    try {
      const handle = lib.handleByIndex(index);
      const uuid = lib.uuid(handle);
      if (request.known) {
        const slot = request.known.findIndex((board) => board?.uuid === uuid);
        // A board that appeared after discovery is left for the next discovery.
        if (slot >= 0) slots[slot] = { handle, energySupported: request.known[slot]!.energySupported };
        continue;
      }
      const board = describe(lib, handle, uuid, boards.length);
      slots[board.slot] = { handle, energySupported: board.energySupported };
      boards.push(board);
    } catch (error) {
      unusable.push({ index, ...callError(error, 'nvmlDeviceGetHandleByIndex_v2') });
    }
  }
  const errorTexts = Object.fromEntries(Object.values(NVML_RETURN).map((code) => [code, lib.errorString(code)]));
  return {
    ok: true,
    driverVersion: optional(() => lib.driverVersion(), 'unknown'),
    boards,
    unusable,
    errorTexts,
  };
}

function codeOf(query: () => number): [code: number, value: number] {
  try {
    return [NVML_RETURN.SUCCESS, query()];
  } catch (error) {
    return [error instanceof NvmlError ? error.code : NVML_RETURN.UNKNOWN, 0];
  }
}

function sample(id: number, requested: number[]): void {
  for (const slotIndex of requested) {
    shared.begin(id, slotIndex);
    const slot = slots[slotIndex];
    if (!nvml || !slot) {
      const missing = NVML_RETURN.NOT_FOUND;
      shared.write(id, slotIndex, { energyCode: missing, energyMillijoules: 0, powerCode: missing, powerMilliwatts: 0 });
      continue;
    }
    const lib = nvml;
    const [energyCode, energyMillijoules] = slot.energySupported ? codeOf(() => lib.totalEnergyMillijoules(slot.handle)) : [NVML_RETURN.NOT_SUPPORTED, 0];
    // After a failed counter read the board is already reported; a second call would only add latency.
    const [powerCode, powerMilliwatts] =
      slot.energySupported && energyCode !== NVML_RETURN.SUCCESS ? [energyCode, 0] : codeOf(() => lib.powerUsageMilliwatts(slot.handle));
    shared.write(id, slotIndex, { energyCode, energyMillijoules, powerCode, powerMilliwatts });
  }
}

function processes(id: number, requested: number[]): ProcessList[] {
  return requested.map((slotIndex) => {
    shared.begin(id, slotIndex);
    const slot = slots[slotIndex];
    try {
      if (!nvml || !slot) throw new NvmlError(NVML_RETURN.NOT_FOUND, 'nvmlDeviceGetHandleByIndex_v2', 'Not Found');
      return { slot: slotIndex, processes: nvml.computeRunningProcesses(slot.handle) };
    } catch (error) {
      return { slot: slotIndex, error: callError(error, 'nvmlDeviceGetComputeRunningProcesses_v3') };
    }
  });
}

function close(): void {
  optional(() => nvml?.shutdown(), undefined);
  nvml = undefined;
  slots = [];
}

parentPort!.on('message', (request: Envelope<WorkerRequest>) => {
  const { id } = request;
  switch (request.type) {
    case 'open':
      parentPort!.postMessage({ id, ...open(request) });
      break;
    case 'sample':
      sample(id, request.slots);
      parentPort!.postMessage({ id, done: true });
      break;
    case 'processes':
      parentPort!.postMessage({ id, lists: processes(id, request.slots) });
      break;
    case 'close':
      close();
      parentPort!.postMessage({ id });
      break;
  }
});
