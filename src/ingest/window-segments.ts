// The ended segments of windows, kept until the ledger has closed their intervals, bounded in
// bytes rather than in count: a client flipping a window's phase creates a segment per flip, and
// with 128-character astral-plane labels each one used to hold kilobytes (100,000 of them filled a
// 64 MiB heap). Workloads and device lists are interned, so segments that repeat one hold one copy.
import type { Workload } from '../attribution/activity.ts';

export interface Segment {
  workload: Workload;
  /** The client whose window it was: its peer address, shared with the window (no copy). */
  client: string;
  deviceIds?: string[];
  startMs: number;
  endMs: number;
}

/**
 * What one segment costs beyond its labels: the object with its two times, its slot in the queue.
 * Generous for V8 (about 60 bytes with pointer compression), so the bound errs towards less memory.
 */
const SEGMENT_BYTES = 96;
/**
 * What one interned value costs beyond its strings' bytes: the map entry, the object, string headers.
 * Measured: 5,000 segments of five distinct 128-character astral labels took 4,634 bytes of heap each.
 */
const INTERNED_ENTRY_BYTES = 448;

interface Interned<T> {
  value: T;
  refs: number;
  bytes: number;
}

/** Values shared by key, counted by reference; each distinct value is charged once, while held. */
class InternTable<T> {
  readonly #entries = new Map<string, Interned<T>>();

  /** What holding `key` would add: nothing when it is held already. */
  costBytes(key: string): number {
    return this.#entries.has(key) ? 0 : INTERNED_ENTRY_BYTES + 2 * Buffer.byteLength(key);
  }

  /** The shared copy of `value` (held once more) and the bytes that added. */
  hold(key: string, value: T): { value: T; addedBytes: number } {
    const entry = this.#entries.get(key);
    if (entry) {
      entry.refs++;
      return { value: entry.value, addedBytes: 0 };
    }
    // The key, and the value's strings of the same length: UTF-8 bytes are never fewer than V8's.
    const bytes = this.costBytes(key);
    this.#entries.set(key, { value, refs: 1, bytes });
    return { value, addedBytes: bytes };
  }

  /** Releases one hold of `key`; the bytes freed when it was the last. */
  release(key: string): number {
    const entry = this.#entries.get(key)!;
    if (--entry.refs > 0) return 0;
    this.#entries.delete(key);
    return entry.bytes;
  }
}

function workloadKey(workload: Workload): string {
  return JSON.stringify([workload.model, workload.job, workload.phase, workload.namespace, workload.pod]);
}

function devicesKey(deviceIds: string[] | undefined): string | undefined {
  return deviceIds && JSON.stringify(deviceIds);
}

export class SegmentLog {
  readonly #maxBytes: number;
  readonly #workloads = new InternTable<Workload>();
  readonly #deviceLists = new InternTable<string[]>();
  /** Segments in the order they ended, from `#head` on (dropped ones before it, until compacted). */
  #segments: Segment[] = [];
  #head = 0;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Whether a segment of this workload and devices fits under the bound. */
  hasRoomFor(workload: Workload, deviceIds: string[] | undefined): boolean {
    const devices = devicesKey(deviceIds);
    const addedBytes = SEGMENT_BYTES + this.#workloads.costBytes(workloadKey(workload)) + (devices === undefined ? 0 : this.#deviceLists.costBytes(devices));
    return this.#bytes + addedBytes <= this.#maxBytes;
  }

  /**
   * Keeps a segment, over the bound too: a window that ends or expires must leave its last segment
   * (its labels were already held while it was open, so ending it adds a segment's worth at most).
   */
  push(workload: Workload, deviceIds: string[] | undefined, client: string, startMs: number, endMs: number): void {
    const heldWorkload = this.#workloads.hold(workloadKey(workload), workload);
    const devices = devicesKey(deviceIds);
    const heldDevices = devices === undefined ? undefined : this.#deviceLists.hold(devices, deviceIds!);
    this.#bytes += SEGMENT_BYTES + heldWorkload.addedBytes + (heldDevices?.addedBytes ?? 0);
    this.#segments.push({ workload: heldWorkload.value, client, ...(heldDevices && { deviceIds: heldDevices.value }), startMs, endMs });
  }

  /** When the oldest kept segment ended, if any. */
  get oldestEndMs(): number | undefined {
    return this.#segments[this.#head]?.endMs;
  }

  /** Forgets segments, oldest first, while they ended before `beforeMs`. */
  dropEndedBefore(beforeMs: number): void {
    while (this.#head < this.#segments.length && this.#segments[this.#head]!.endMs < beforeMs) {
      const segment = this.#segments[this.#head]!;
      this.#bytes -= SEGMENT_BYTES + this.#workloads.release(workloadKey(segment.workload));
      const devices = devicesKey(segment.deviceIds);
      if (devices !== undefined) this.#bytes -= this.#deviceLists.release(devices);
      this.#head++;
    }
    // Compact once the dropped part is the larger half, so dropping stays O(1) amortised.
    if (this.#head > 1024 && this.#head * 2 > this.#segments.length) {
      this.#segments = this.#segments.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Every kept segment, oldest first. */
  *[Symbol.iterator](): IterableIterator<Segment> {
    for (let index = this.#head; index < this.#segments.length; index++) yield this.#segments[index]!;
  }
}
