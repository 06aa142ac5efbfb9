// The spans the ledger holds until every interval they overlap has closed, stored compactly: under
// load that is rate x lag spans (300 000 at 20 000 spans/s and the default 15 s lag). Their numbers
// live in typed arrays, one row per span; their workloads and device lists are interned, so spans of
// one model share one object however many arrive; and the request record is kept in columns too (its
// numbers in typed arrays, NaN for a missing token count; its workload, devices and operation as
// pointers to shared values; its trace and span ids as 24 raw bytes in one buffer, zeros for none),
// made into an object only when the span finishes. Nothing else of the
// decoded OTLP message is retained.
import type { RequestRecord, ShareFootprint, SpanActivity, Workload } from './activity.ts';
import { workloadKey } from './workload-key.ts';

const INITIAL_ROWS = 1024;
/** A request's trace id (16 bytes) then span id (8 bytes); all zeros when it has none (W3C's invalid ids). */
const TRACE_ID_BYTES = 16;
const ID_BYTES = 24;
/** Footprint columns per row when footprints are kept: operational grams, embodied grams, energy cost, hardware cost. */
const FOOTPRINT_COLUMNS = 4;
/** Interned values beyond this many more than the live rows use are dropped at the next compaction. */
const INTERNED_SLACK = 4096;

/** One shared instance per distinct key. */
class Interner<T> {
  readonly #byKey = new Map<string, T>();

  intern(key: string, value: T): T {
    const existing = this.#byKey.get(key);
    if (existing !== undefined) return existing;
    this.#byKey.set(key, value);
    return value;
  }

  get size(): number {
    return this.#byKey.size;
  }

  clear(): void {
    this.#byKey.clear();
  }
}

function growIds(ids: Buffer, rows: number, usedRows: number): Buffer {
  const grown = Buffer.alloc(rows * ID_BYTES);
  ids.copy(grown, 0, 0, usedRows * ID_BYTES);
  return grown;
}

function sumFootprint(footprints: Float64Array, row: number): ShareFootprint {
  const at = row * FOOTPRINT_COLUMNS;
  return { operationalGrams: footprints[at]!, embodiedGrams: footprints[at + 1]!, energyCost: footprints[at + 2]!, hardwareCost: footprints[at + 3]! };
}

function growFloat64(array: Float64Array, rows: number): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(rows);
  grown.set(array);
  return grown;
}

export class SpanTable {
  #rows = 0;
  #startMs = new Float64Array(INITIAL_ROWS);
  #endMs = new Float64Array(INITIAL_ROWS);
  #weight = new Float64Array(INITIAL_ROWS);
  /** Energy the span was given so far, reported with its request when it finishes. */
  #energyJoules = new Float64Array(INITIAL_ROWS);
  #workloads: Workload[] = [];
  #senderKeys: (string | undefined)[] = [];
  #deviceIds: (string[] | undefined)[] = [];
  #requestStartMs = new Float64Array(INITIAL_ROWS);
  #requestEndMs = new Float64Array(INITIAL_ROWS);
  /** NaN where the request carries no count. */
  #inputTokens = new Float64Array(INITIAL_ROWS);
  #outputTokens = new Float64Array(INITIAL_ROWS);
  #requestWorkloads: Workload[] = [];
  #requestDeviceIds: (string[] | undefined)[] = [];
  /** `gen_ai.operation.name` as normalised at ingest: one of a few shared strings. */
  #operations: (string | undefined)[] = [];
  #ids: Buffer = Buffer.alloc(INITIAL_ROWS * ID_BYTES);
  /** The footprint each span's energy was priced at, FOOTPRINT_COLUMNS per row; only when asked for (trace export). */
  #footprints: Float64Array<ArrayBuffer> | undefined;
  readonly #internedWorkloads = new Interner<Workload>();
  readonly #internedDeviceLists = new Interner<string[]>();

  /** `footprints`: keep what each span's energy costs (addFootprint), reported with its request. */
  constructor({ footprints = false }: { footprints?: boolean } = {}) {
    if (footprints) this.#footprints = new Float64Array(INITIAL_ROWS * FOOTPRINT_COLUMNS);
  }

  get rows(): number {
    return this.#rows;
  }

  /** Stores a span; returns its row (valid until the next `finish`). */
  push({ activity, request }: SpanActivity): number {
    if (this.#rows === this.#startMs.length) this.#grow(this.#rows * 2);
    const row = this.#rows++;
    this.#startMs[row] = activity.startMs;
    this.#endMs[row] = activity.endMs;
    this.#weight[row] = activity.weight ?? 1;
    this.#energyJoules[row] = 0;
    this.#footprints?.fill(0, row * FOOTPRINT_COLUMNS, (row + 1) * FOOTPRINT_COLUMNS);
    this.#workloads[row] = this.#workload(activity.workload);
    this.#senderKeys[row] = activity.senderKey;
    this.#deviceIds[row] = activity.deviceIds && this.#deviceList(activity.deviceIds);
    this.#requestStartMs[row] = request.startMs;
    this.#requestEndMs[row] = request.endMs;
    this.#inputTokens[row] = request.inputTokens ?? NaN;
    this.#outputTokens[row] = request.outputTokens ?? NaN;
    this.#requestWorkloads[row] = this.#workload(request.workload);
    this.#requestDeviceIds[row] = request.deviceIds && this.#deviceList(request.deviceIds);
    this.#operations[row] = request.operation;
    const idsAt = row * ID_BYTES;
    if (request.traceId !== undefined && request.spanId !== undefined) {
      this.#ids.write(request.traceId, idsAt, TRACE_ID_BYTES, 'hex');
      this.#ids.write(request.spanId, idsAt + TRACE_ID_BYTES, ID_BYTES - TRACE_ID_BYTES, 'hex');
    } else this.#ids.fill(0, idsAt, idsAt + ID_BYTES);
    return row;
  }

  startMs(row: number): number {
    return this.#startMs[row]!;
  }

  endMs(row: number): number {
    return this.#endMs[row]!;
  }

  deviceIds(row: number): string[] | undefined {
    return this.#deviceIds[row];
  }

  weight(row: number): number {
    return this.#weight[row]!;
  }

  workload(row: number): Workload {
    return this.#workloads[row]!;
  }

  senderKey(row: number): string | undefined {
    return this.#senderKeys[row];
  }

  addEnergy(row: number, joules: number): void {
    this.#energyJoules[row]! += joules;
  }

  /** Adds the price of energy given to a span (when footprints are kept). */
  addFootprint(row: number, footprint: ShareFootprint): void {
    const footprints = this.#footprints;
    if (!footprints) return;
    const at = row * FOOTPRINT_COLUMNS;
    footprints[at]! += footprint.operationalGrams;
    footprints[at + 1]! += footprint.embodiedGrams;
    footprints[at + 2]! += footprint.energyCost;
    footprints[at + 3]! += footprint.hardwareCost;
  }

  /** Hands every span that ended by `untilMs` to `done` with its energy (and footprint, when kept), and drops it. */
  finish(untilMs: number, done: (request: RequestRecord, energyJoules: number, footprint: ShareFootprint | undefined) => void): void {
    let kept = 0;
    for (let row = 0; row < this.#rows; row++) {
      if (this.#endMs[row]! <= untilMs) {
        done(this.#request(row), this.#energyJoules[row]!, this.#footprints && sumFootprint(this.#footprints, row));
        continue;
      }
      if (kept !== row) this.#move(row, kept);
      kept++;
    }
    if (kept === this.#rows) return;
    this.#rows = kept;
    this.#workloads.length = this.#senderKeys.length = this.#deviceIds.length = kept;
    this.#requestWorkloads.length = this.#requestDeviceIds.length = this.#operations.length = kept;
    if (kept * 4 < this.#startMs.length && this.#startMs.length > INITIAL_ROWS) this.#grow(Math.max(INITIAL_ROWS, kept * 2));
    // Workloads no live span uses would otherwise stay interned for ever.
    if (this.#internedWorkloads.size + this.#internedDeviceLists.size > kept + INTERNED_SLACK) this.#reintern();
  }

  /** The request record of a row, with only the fields it has (as ingest made it). */
  #request(row: number): RequestRecord {
    const request: RequestRecord = { workload: this.#requestWorkloads[row]!, startMs: this.#requestStartMs[row]!, endMs: this.#requestEndMs[row]! };
    const inputTokens = this.#inputTokens[row]!;
    const outputTokens = this.#outputTokens[row]!;
    const deviceIds = this.#requestDeviceIds[row];
    const operation = this.#operations[row];
    if (deviceIds) request.deviceIds = deviceIds;
    if (!Number.isNaN(inputTokens)) request.inputTokens = inputTokens;
    if (!Number.isNaN(outputTokens)) request.outputTokens = outputTokens;
    if (operation !== undefined) request.operation = operation;
    const idsAt = row * ID_BYTES;
    // A valid trace id is never all zeros, so a zero first half means the request has no ids.
    if (this.#ids.readBigUInt64BE(idsAt) !== 0n || this.#ids.readBigUInt64BE(idsAt + 8) !== 0n) {
      request.traceId = this.#ids.toString('hex', idsAt, idsAt + TRACE_ID_BYTES);
      request.spanId = this.#ids.toString('hex', idsAt + TRACE_ID_BYTES, idsAt + ID_BYTES);
    }
    return request;
  }

  #move(from: number, to: number): void {
    this.#startMs[to] = this.#startMs[from]!;
    this.#endMs[to] = this.#endMs[from]!;
    this.#weight[to] = this.#weight[from]!;
    this.#energyJoules[to] = this.#energyJoules[from]!;
    this.#workloads[to] = this.#workloads[from]!;
    this.#senderKeys[to] = this.#senderKeys[from];
    this.#deviceIds[to] = this.#deviceIds[from];
    this.#requestStartMs[to] = this.#requestStartMs[from]!;
    this.#requestEndMs[to] = this.#requestEndMs[from]!;
    this.#inputTokens[to] = this.#inputTokens[from]!;
    this.#outputTokens[to] = this.#outputTokens[from]!;
    this.#requestWorkloads[to] = this.#requestWorkloads[from]!;
    this.#requestDeviceIds[to] = this.#requestDeviceIds[from];
    this.#operations[to] = this.#operations[from];
    this.#ids.copy(this.#ids, to * ID_BYTES, from * ID_BYTES, (from + 1) * ID_BYTES);
    this.#footprints?.copyWithin(to * FOOTPRINT_COLUMNS, from * FOOTPRINT_COLUMNS, (from + 1) * FOOTPRINT_COLUMNS);
  }

  /** Resizes the typed arrays to `rows` (at least the rows in use). */
  #grow(rows: number): void {
    this.#startMs = growFloat64(this.#startMs.subarray(0, this.#rows), rows);
    this.#endMs = growFloat64(this.#endMs.subarray(0, this.#rows), rows);
    this.#weight = growFloat64(this.#weight.subarray(0, this.#rows), rows);
    this.#energyJoules = growFloat64(this.#energyJoules.subarray(0, this.#rows), rows);
    this.#requestStartMs = growFloat64(this.#requestStartMs.subarray(0, this.#rows), rows);
    this.#requestEndMs = growFloat64(this.#requestEndMs.subarray(0, this.#rows), rows);
    this.#inputTokens = growFloat64(this.#inputTokens.subarray(0, this.#rows), rows);
    this.#outputTokens = growFloat64(this.#outputTokens.subarray(0, this.#rows), rows);
    this.#ids = growIds(this.#ids, rows, this.#rows);
    if (this.#footprints) this.#footprints = growFloat64(this.#footprints.subarray(0, this.#rows * FOOTPRINT_COLUMNS), rows * FOOTPRINT_COLUMNS);
  }

  #reintern(): void {
    this.#internedWorkloads.clear();
    this.#internedDeviceLists.clear();
    for (let row = 0; row < this.#rows; row++) {
      this.#workload(this.#workloads[row]!);
      this.#workload(this.#requestWorkloads[row]!);
      const deviceIds = this.#deviceIds[row];
      if (deviceIds) this.#deviceList(deviceIds);
      const requestDevices = this.#requestDeviceIds[row];
      if (requestDevices) this.#deviceList(requestDevices);
    }
  }

  #workload(workload: Workload): Workload {
    return this.#internedWorkloads.intern(workloadKey(workload), workload);
  }

  #deviceList(deviceIds: string[]): string[] {
    return this.#internedDeviceLists.intern(deviceIds.join('\u0000'), deviceIds);
  }
}
