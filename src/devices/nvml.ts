// NVIDIA GPUs through NVML: the board energy counter where the board has one (Volta and newer), power
// samples otherwise. NVML runs in a worker thread (nvml-worker.ts) so a hung driver call is bounded by
// `timeoutMs`; one request per tick reads every due board. A failing board is reported (the pipeline
// logs and counts it) and retried with exponential backoff while the others keep being read.
import type { Logger } from 'pino';
import { NvmlWorker } from './nvml-worker-client.ts';
import type { CallError, ErrorTexts, KnownBoard, OpenReply, ProcessesReply, SampleReply, SlotSample } from './nvml-protocol.ts';
import { nvidiaPlacement } from './nvidia-ids.ts';
import { NVML_RETURN } from './nvml-return.ts';
import type { Device, DeviceFailure, DeviceProcess, DeviceSource, Discovery, GpuPartitions, GpuPlacement, SampleResult, SourceProblem } from './source.ts';

export interface NvmlBackoff {
  /** Wait after the first failure; doubled after each further one. */
  initialMs: number;
  maxMs: number;
}

export interface NvmlSourceOptions {
  /** `libnvidia-ml.so.1` (resolved by the dynamic loader) or a path (`--nvml-library`). */
  libraryPath: string;
  /** Bound on one tick's NVML work (`deviceTimeout`). */
  timeoutMs: number;
  logger: Logger;
  backoff?: NvmlBackoff;
}

const DEFAULT_BACKOFF: NvmlBackoff = { initialMs: 2_000, maxMs: 300_000 };
/** nvmlInit_v2 takes seconds per board when persistence mode is off, so opening gets its own bound. */
const OPEN_TIMEOUT_MS = 30_000;
const UNIT_JOULES = 1e-3;

const FIXES: Record<string, string> = {
  gpu_lost: 'The board stopped answering (fell off the bus): check `dmesg` for Xid errors; it usually needs a GPU reset (`nvidia-smi -r`) or a node reboot.',
  permission_denied: 'footprint cannot use /dev/nvidia*: run it with the NVIDIA container runtime or give it the device nodes.',
  not_found: 'The board is no longer visible to NVML (removed, or the driver was reloaded); restart footprint to rediscover.',
  driver_not_loaded: 'The NVIDIA kernel module is not loaded: load it (`modprobe nvidia`) or repair the driver installation.',
  timeout:
    'NVML did not answer within deviceTimeout (--device-timeout): check `dmesg` for Xid errors and that nvidia-persistenced runs; raise the timeout if the driver is only slow.',
  nvml_error: 'Check the board with `nvidia-smi -q`; footprint keeps retrying it.',
};

const LIBRARY_FIX =
  'Install the NVIDIA driver (it provides libnvidia-ml.so.1); in a container use the NVIDIA container runtime ' +
  '(NVIDIA_DRIVER_CAPABILITIES including utility) or mount the library; or point --nvml-library PATH ' +
  '(FOOTPRINT_NVML_LIBRARY) at it. Until then NVIDIA GPUs are not measured.';

function errorTypeOf(code: number): string {
  switch (code) {
    case NVML_RETURN.GPU_IS_LOST:
      return 'gpu_lost';
    case NVML_RETURN.NO_PERMISSION:
      return 'permission_denied';
    case NVML_RETURN.NOT_FOUND:
      return 'not_found';
    case NVML_RETURN.DRIVER_NOT_LOADED:
      return 'driver_not_loaded';
    default:
      return 'nvml_error';
  }
}

interface Problem {
  errorType: string;
  message: string;
  fix: string;
}

interface Board {
  device: Device;
  /** Position in the worker's shared sample; stable across worker respawns. */
  slot: number;
  migInstanceUuids: string[];
  failures: number;
  retryAtMs: number;
  lastFailure?: DeviceFailure;
}

type Opened = { worker: NvmlWorker; reply: Extract<OpenReply, { ok: true }> } | { problem: Problem };

export class NvmlSource implements DeviceSource, GpuPartitions {
  readonly name = 'nvml';
  readonly #backoff: NvmlBackoff;
  #boards: Board[] = [];
  #errorTexts: ErrorTexts = {};
  #worker: NvmlWorker | undefined;
  #starting: Promise<NvmlWorker | undefined> | undefined;
  #workerFailures = 0;
  #workerRetryAtMs = 0;
  #workerProblem: Problem | undefined;
  /** The latest tick's clock, for backoff decisions made outside read(). */
  #clockMs = 0;
  readonly #loggedProcessErrors = new Set<string>();
  readonly #options: NvmlSourceOptions;

  constructor(options: NvmlSourceOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
  }

  async discover(): Promise<Discovery> {
    await this.close();
    const opened = await this.#open();
    if ('problem' in opened) {
      return { devices: [], problems: [{ source: this.name, message: opened.problem.message, fix: opened.problem.fix }] };
    }
    const { worker, reply } = opened;
    this.#worker = worker;
    this.#errorTexts = reply.errorTexts;
    this.#boards = reply.boards.map((info) => ({
      device: {
        id: info.uuid,
        type: 'gpu',
        name: info.name,
        vendor: 'nvidia',
        method: info.energySupported ? 'counter' : 'power',
        hostRole: 'external',
        ...(info.powerLimitMilliwatts === undefined ? {} : { powerLimitWatts: info.powerLimitMilliwatts / 1000 }),
        info: {
          driverVersion: reply.driverVersion,
          index: String(info.index),
          migMode: info.migEnabled ? 'enabled' : 'disabled',
          ...(info.migEnabled ? { migInstances: info.migInstanceUuids.join(',') } : {}),
          library: this.#options.libraryPath,
        },
      },
      slot: info.slot,
      migInstanceUuids: info.migInstanceUuids,
      failures: 0,
      retryAtMs: 0,
    }));
    const problems: SourceProblem[] = reply.unusable.map((board) => ({
      source: this.name,
      message: board.index < 0 ? board.message : `GPU ${board.index} skipped: ${board.message}`,
      fix: FIXES[errorTypeOf(board.code)]!,
    }));
    return { devices: this.#boards.map((board) => board.device), problems };
  }

  async read(nowMs: number): Promise<SampleResult> {
    this.#clockMs = nowMs;
    const result: SampleResult = { readings: [], failures: [] };
    const deadlineMs = performance.now() + this.#options.timeoutMs;
    const due: Board[] = [];
    for (const board of this.#boards) {
      if (board.retryAtMs <= nowMs) due.push(board);
      else result.failures.push(this.#waiting(board));
    }
    if (due.length === 0) return result;
    // Boards being retried go last: if one hangs again, the healthy ones have been read already.
    due.sort((a, b) => Number(a.failures > 0) - Number(b.failures > 0));

    const worker = await this.#readyWorker(nowMs, deadlineMs);
    if (!worker) {
      const problem = this.#workerProblem ?? this.#timeoutProblem('the NVML worker is still starting');
      for (const board of due) result.failures.push({ deviceId: board.device.id, ...problem });
      return result;
    }
    const answer = await worker.request<SampleReply>({ type: 'sample', slots: due.map((b) => b.slot) }, deadlineMs);
    const stuckSlot = answer.reply ? undefined : worker.sample.stuckOn(answer.id);
    const stuckId = due.find((board) => board.slot === stuckSlot)?.device.id;
    for (const board of due) {
      const sample = worker.sample.read(answer.id, board.slot);
      if (sample) this.#collect(board, sample, nowMs, result);
      else if (board.slot === stuckSlot) {
        const problem = this.#timeoutProblem(`NVML did not answer for this board within ${this.#options.timeoutMs}ms`);
        result.failures.push(this.#fail(board, nowMs, problem));
      } else {
        const cause = stuckId ? `NVML was still blocked on ${stuckId}` : 'the NVML worker did not answer';
        result.failures.push({ deviceId: board.device.id, ...this.#timeoutProblem(`not read this tick: ${cause}`) });
      }
    }
    if (answer.reply) this.#workerFailures = 0;
    else this.#abandonWorker(nowMs, worker);
    return result;
  }

  async processes(): Promise<DeviceProcess[]> {
    const worker = this.#worker;
    const due = this.#boards.filter((board) => board.failures === 0);
    if (!worker || due.length === 0) return [];
    const slots = due.map((board) => board.slot);
    const answer = await worker.request<ProcessesReply>({ type: 'processes', slots }, performance.now() + this.#options.timeoutMs);
    if (!answer.reply) {
      const stuck = due.find((board) => board.slot === worker.sample.stuckOn(answer.id));
      const timeout = this.#timeoutProblem(`listing processes did not answer within ${this.#options.timeoutMs}ms`);
      if (stuck) this.#fail(stuck, this.#clockMs, timeout);
      this.#abandonWorker(this.#clockMs, worker);
      return [];
    }
    const processes: DeviceProcess[] = [];
    for (const list of answer.reply.lists) {
      const board = due.find((candidate) => candidate.slot === list.slot)!;
      if ('error' in list) {
        this.#noteProcessError(board, list.error);
        continue;
      }
      for (const { pid, usedMemoryBytes } of list.processes) {
        processes.push({ deviceId: board.device.id, pid, ...(usedMemoryBytes === undefined ? {} : { usedMemoryBytes }) });
      }
    }
    return processes;
  }

  /** The board of a device the kubelet allocated: a board UUID, a replica of one, or a MIG instance found at discovery. */
  placeAllocation(deviceId: string, resourceName: string): GpuPlacement | undefined {
    const migParent = (uuid: string) => this.#boards.find((board) => board.migInstanceUuids.includes(uuid))?.device.id;
    const placement = nvidiaPlacement(deviceId, resourceName, migParent);
    return placement && this.#boards.some((board) => board.device.id === placement.boardId) ? placement : undefined;
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#boards = [];
    if (!worker) return;
    const { reply } = await worker.request({ type: 'close' }, performance.now() + this.#options.timeoutMs);
    worker.terminate();
    // A driver stuck in nvmlShutdown cannot be interrupted: the thread is detached, and the caller hears of it.
    if (reply === undefined && worker.failure === undefined)
      throw new Error(`nvmlShutdown did not return within ${this.#options.timeoutMs} ms (deviceTimeout); the NVML worker thread was detached`);
  }

  async #open(known?: KnownBoard[]): Promise<Opened> {
    const worker = new NvmlWorker();
    const request = { type: 'open' as const, libraryPath: this.#options.libraryPath, ...(known ? { known } : {}) };
    const { reply } = await worker.request<OpenReply>(request, performance.now() + OPEN_TIMEOUT_MS);
    if (reply?.ok) return { worker, reply };
    worker.terminate();
    if (!reply) {
      const cause = worker.failure ? `the NVML worker failed: ${worker.failure.message}` : `nvmlInit_v2 did not answer within ${OPEN_TIMEOUT_MS}ms`;
      return { problem: this.#timeoutProblem(cause) };
    }
    if (reply.stage === 'load') {
      const message = `NVML library '${this.#options.libraryPath}' could not be loaded: ${reply.error.message}`;
      return { problem: { errorType: 'library_missing', message, fix: LIBRARY_FIX } };
    }
    const errorType = errorTypeOf(reply.error.code);
    return { problem: { errorType, message: `NVML did not initialise: ${reply.error.message}`, fix: FIXES[errorType]! } };
  }

  /** The live worker, or a respawned one if it comes up before the deadline. */
  async #readyWorker(nowMs: number, deadlineMs: number): Promise<NvmlWorker | undefined> {
    if (this.#worker) return this.#worker;
    if (!this.#starting) {
      if (nowMs < this.#workerRetryAtMs) return undefined;
      this.#starting = this.#respawn(nowMs).finally(() => (this.#starting = undefined));
    }
    return beforeDeadline(this.#starting, deadlineMs);
  }

  async #respawn(nowMs: number): Promise<NvmlWorker | undefined> {
    const known: KnownBoard[] = [];
    for (const board of this.#boards) known[board.slot] = { uuid: board.device.id, energySupported: board.device.method === 'counter' };
    const opened = await this.#open(known);
    if ('problem' in opened) {
      this.#workerProblem = opened.problem;
      this.#workerFailures++;
      this.#workerRetryAtMs = nowMs + this.#delayMs(this.#workerFailures);
      // Every board reports this problem as its failure; the pipeline logs it.
      this.#options.logger.debug({ source: this.name }, `NVML restart failed: ${opened.problem.message}`);
      return undefined;
    }
    // Closed while the worker was starting.
    if (this.#boards.length === 0) {
      opened.worker.terminate();
      return undefined;
    }
    this.#workerProblem = undefined;
    this.#errorTexts = opened.reply.errorTexts;
    this.#worker = opened.worker;
    return opened.worker;
  }

  /** Lets a worker stuck in a driver call go; the next tick starts another (spaced out if this repeats). */
  #abandonWorker(nowMs: number, worker: NvmlWorker): void {
    worker.terminate();
    if (this.#worker === worker) this.#worker = undefined;
    this.#workerFailures++;
    this.#workerRetryAtMs = nowMs + (this.#workerFailures > 1 ? this.#delayMs(this.#workerFailures - 1) : 0);
    this.#options.logger.debug({ source: this.name }, `NVML stopped answering within ${this.#options.timeoutMs}ms; restarting its worker thread`);
  }

  #collect(board: Board, sample: SlotSample, nowMs: number, result: SampleResult): void {
    const counter = board.device.method === 'counter';
    const code = counter ? sample.energyCode : sample.powerCode;
    if (code !== NVML_RETURN.SUCCESS) {
      const call = counter ? 'nvmlDeviceGetTotalEnergyConsumption' : 'nvmlDeviceGetPowerUsage';
      result.failures.push(this.#fail(board, nowMs, this.#nvmlProblem(call, code)));
      return;
    }
    this.#recover(board);
    const deviceId = board.device.id;
    const watts = sample.powerCode === NVML_RETURN.SUCCESS ? sample.powerMilliwatts / 1000 : undefined;
    if (!counter) {
      result.readings.push({ kind: 'power', deviceId, timeMs: nowMs, watts: watts! });
      return;
    }
    result.readings.push({
      kind: 'counter',
      deviceId,
      timeMs: nowMs,
      value: sample.energyMillijoules,
      unitJoules: UNIT_JOULES,
      ...(watts === undefined ? {} : { watts }),
    });
  }

  #fail(board: Board, nowMs: number, problem: Problem): DeviceFailure {
    const failure: DeviceFailure = { deviceId: board.device.id, ...problem };
    board.failures++;
    board.retryAtMs = nowMs + this.#delayMs(board.failures);
    board.lastFailure = failure;
    return failure;
  }

  #recover(board: Board): void {
    board.failures = 0;
    board.retryAtMs = 0;
    delete board.lastFailure;
  }

  /** A board skipped while it backs off is still reported, with its retry time, so its status stays failed but no read is counted. */
  #waiting(board: Board): DeviceFailure {
    return { ...board.lastFailure!, retryAtMs: board.retryAtMs };
  }

  #noteProcessError(board: Board, error: CallError): void {
    const key = `${board.device.id}:${error.code}`;
    if (this.#loggedProcessErrors.has(key)) return;
    this.#loggedProcessErrors.add(key);
    this.#options.logger.warn({ source: this.name, deviceId: board.device.id }, `GPU ${board.device.id}: cannot list its processes: ${error.message}`);
  }

  #nvmlProblem(call: string, code: number): Problem {
    const errorType = errorTypeOf(code);
    const text = this.#errorTexts[code] ?? `NVML error ${code}`;
    return { errorType, message: `${call}: ${text}`, fix: FIXES[errorType]! };
  }

  #timeoutProblem(message: string): Problem {
    return { errorType: 'timeout', message, fix: FIXES.timeout! };
  }

  #delayMs(failures: number): number {
    return Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** (failures - 1));
  }
}

/** The promise's value, or undefined if the deadline (performance.now() clock) comes first. */
async function beforeDeadline<T>(promise: Promise<T | undefined>, deadlineMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadlineMs - performance.now()));
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
