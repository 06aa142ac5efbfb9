// The wire between NvmlSource (sample loop thread) and its NVML worker thread: the messages, and the
// shared memory a sample is written into. Samples go through shared memory rather than the reply so
// that when one call hangs, the boards already read are still there to collect at the deadline.

/** Most boards one worker serves; NVML nodes carry at most 16 today. */
const MAX_BOARDS = 128;

export interface OpenRequest {
  type: 'open';
  libraryPath: string;
  /**
   * On a respawn, the boards already discovered, in slot order: slots keep their meaning and boards are
   * not probed again (a probe could hit the call that hung). Absent on first discovery.
   */
  known?: KnownBoard[];
}
export interface KnownBoard {
  uuid: string;
  energySupported: boolean;
}
interface SampleRequest {
  type: 'sample';
  /** Slots to read, in order. */
  slots: number[];
}
interface ProcessesRequest {
  type: 'processes';
  slots: number[];
}
interface CloseRequest {
  type: 'close';
}
export type WorkerRequest = OpenRequest | SampleRequest | ProcessesRequest | CloseRequest;
export type Envelope<T> = T & { id: number };

export interface BoardInfo {
  slot: number;
  uuid: string;
  name: string;
  index: number;
  energySupported: boolean;
  powerLimitMilliwatts?: number;
  migEnabled: boolean;
  migInstanceUuids: string[];
}

/** An NVML call that did not succeed: which one, its nvmlReturn_t and the library's text for it. */
export interface CallError {
  call: string;
  code: number;
  message: string;
}

export type OpenReply =
  | {
      ok: true;
      driverVersion: string;
      /** Described on first discovery only; empty on a respawn. */
      boards: BoardInfo[];
      /** Boards that could not be identified at open, by NVML index. */
      unusable: (CallError & { index: number })[];
      errorTexts: ErrorTexts;
    }
  | { ok: false; stage: 'load' | 'init'; error: CallError };

export interface SampleReply {
  done: true;
}

export type ProcessList = { slot: number; processes: { pid: number; usedMemoryBytes?: number }[] } | { slot: number; error: CallError };

export interface ProcessesReply {
  lists: ProcessList[];
}

/** Error texts for every code the worker may write into the shared sample, taken from nvmlErrorString. */
export type ErrorTexts = Record<number, string>;

// Int32 header: the request id being served and the slot it is on.
const PROGRESS_ID = 0;
const PROGRESS_SLOT = 1;
const HEADER_INTS = 2;
// Per slot, Int32: id of the sample that wrote it, energy return code, power return code.
const SLOT_INTS = 3;
// Per slot, Float64: energy in millijoules, power in milliwatts.
const SLOT_FLOATS = 2;

export interface SlotSample {
  energyCode: number;
  energyMillijoules: number;
  powerCode: number;
  powerMilliwatts: number;
}

export class SharedSample {
  readonly buffer: SharedArrayBuffer;
  readonly #ints: Int32Array;
  readonly #floats: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(SharedSample.#bytes())) {
    this.buffer = buffer;
    const intBytes = (HEADER_INTS + MAX_BOARDS * SLOT_INTS) * 4;
    const floatOffset = Math.ceil(intBytes / 8) * 8;
    this.#ints = new Int32Array(buffer, 0, HEADER_INTS + MAX_BOARDS * SLOT_INTS);
    this.#floats = new Float64Array(buffer, floatOffset, MAX_BOARDS * SLOT_FLOATS);
  }

  static #bytes(): number {
    return Math.ceil(((HEADER_INTS + MAX_BOARDS * SLOT_INTS) * 4) / 8) * 8 + MAX_BOARDS * SLOT_FLOATS * 8;
  }

  /** Worker: about to call NVML for `slot` while serving request `id`. */
  begin(id: number, slot: number): void {
    Atomics.store(this.#ints, PROGRESS_SLOT, slot);
    Atomics.store(this.#ints, PROGRESS_ID, id);
  }

  /** Worker: publishes one slot; the id is stored last so a reader never sees half a sample. */
  write(id: number, slot: number, sample: SlotSample): void {
    const intBase = HEADER_INTS + slot * SLOT_INTS;
    this.#floats[slot * SLOT_FLOATS] = sample.energyMillijoules;
    this.#floats[slot * SLOT_FLOATS + 1] = sample.powerMilliwatts;
    Atomics.store(this.#ints, intBase + 1, sample.energyCode);
    Atomics.store(this.#ints, intBase + 2, sample.powerCode);
    Atomics.store(this.#ints, intBase, id);
  }

  /** Main: the slot's sample for request `id`, or undefined when the worker has not reached it. */
  read(id: number, slot: number): SlotSample | undefined {
    const intBase = HEADER_INTS + slot * SLOT_INTS;
    if (Atomics.load(this.#ints, intBase) !== id) return undefined;
    return {
      energyCode: Atomics.load(this.#ints, intBase + 1),
      powerCode: Atomics.load(this.#ints, intBase + 2),
      energyMillijoules: this.#floats[slot * SLOT_FLOATS]!,
      powerMilliwatts: this.#floats[slot * SLOT_FLOATS + 1]!,
    };
  }

  /** Main: the slot the worker is stuck on while serving request `id`, if it got that far. */
  stuckOn(id: number): number | undefined {
    return Atomics.load(this.#ints, PROGRESS_ID) === id ? Atomics.load(this.#ints, PROGRESS_SLOT) : undefined;
  }
}
