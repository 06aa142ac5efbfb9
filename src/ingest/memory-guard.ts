// The daemon's memory guard (config `memoryLimit`, the Collector's memory_limiter in spirit): ingest
// is refused with 429 / RESOURCE_EXHAUSTED, and the exporter retries, while the process is near its
// budget, so a burst is answered rather than grown into until the container is OOM-killed or V8 dies
// of "heap out of memory". Two readings, because either can run out first whatever flags Node was
// started with:
// - resident memory (RSS), against a soft limit below `memoryLimit`: everything the process holds,
//   V8's heap and semi-spaces, Buffers, zlib and HTTP/2 state, what malloc keeps. Plain `node` lets
//   V8's heap grow to a quarter of the machine's memory, so only RSS bounds it there.
// - V8's old generation, against its own limit (--max-old-space-size, when a launcher caps it): V8's
//   heap_size_limit is the old generation plus the young generation (three semi-spaces of
//   --max-semi-space-size). Young objects die in scavenges; only what survives reaches the old
//   generation, and only the old generation's limit is fatal, so the guard compares the old
//   generation's use against the old generation's limit: with a 64 MiB cap and 16 MiB semi-spaces
//   the whole-heap ratio could never pass 75% before the old generation was full.
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

/**
 * Share of the old generation limit above which exports are refused. The rest is room for what is
 * already in flight: every connection can be decoding a body that passed the check (16 exporters x
 * 1,000 spans is about 16 MiB of decoded objects), and the spans held for the lag until they settle.
 * At 75% a 64 MiB heap still died under a 16-client flood (test/hardening/heap-cap.test.ts).
 */
export const HEAP_PRESSURE_RATIO = 0.6;

/**
 * Share of `memoryLimit` above which exports are refused (the soft limit). The rest is for what
 * passed the check before RSS reached it: bodies being read and decoded (bounded by
 * ingestMaxInflightBytes), spans waiting in the queue, and garbage V8 has not collected yet (plain
 * `node` collects 16 MiB semi-spaces and dead Buffers late). Measured under a 16-client flood at
 * 256 MiB without V8 flags: RSS peaked 22-48 MiB over the soft limit (48 MiB at 75%).
 */
export const RESIDENT_PRESSURE_RATIO = 0.7;

const MiB = 2 ** 20;
/** V8's semi-space size on 64-bit platforms when --max-semi-space-size is not given. */
const DEFAULT_SEMI_SPACE_MIB = 16;
/** The young generation is two semi-spaces plus a new large-object space of the same size. */
const YOUNG_GENERATION_SEMI_SPACES = 3;
const YOUNG_SPACES = new Set(['new_space', 'new_large_object_space']);

interface OldGeneration {
  usedBytes: number;
  limitBytes: number;
}

export interface MemoryReading {
  residentBytes: number;
  oldGeneration: OldGeneration;
}

/**
 * The semi-space size in bytes that V8 runs with, from the flags it was started with (`node
 * --max-semi-space-size=N` or NODE_OPTIONS; the last one wins, V8 rounds up to a power of two).
 * V8 offers no API that reports it.
 */
export function semiSpaceBytes(flags: readonly string[]): number {
  let mib = DEFAULT_SEMI_SPACE_MIB;
  for (let index = 0; index < flags.length; index++) {
    const flag = flags[index]!.replaceAll('_', '-');
    if (flag.startsWith('--max-semi-space-size=')) mib = Number(flag.slice('--max-semi-space-size='.length));
    else if (flag === '--max-semi-space-size') mib = Number(flags[index + 1]);
  }
  if (!Number.isFinite(mib) || mib <= 0) mib = DEFAULT_SEMI_SPACE_MIB;
  return 2 ** Math.ceil(Math.log2(mib)) * MiB;
}

/** The flags Node passed to V8: the command line's, then NODE_OPTIONS'. */
function nodeFlags(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
}

const youngGenerationBytes = YOUNG_GENERATION_SEMI_SPACES * semiSpaceBytes(nodeFlags());

/** The old generation's use (every space but the young ones) and its limit, from V8. */
function oldGeneration(): OldGeneration {
  let usedBytes = 0;
  for (const space of getHeapSpaceStatistics()) if (!YOUNG_SPACES.has(space.space_name)) usedBytes += space.space_used_size;
  return { usedBytes, limitBytes: getHeapStatistics().heap_size_limit - youngGenerationBytes };
}

/** This process's RSS (one read of /proc/self/stat on Linux) and V8's old generation. */
export function readMemory(): MemoryReading {
  return { residentBytes: process.memoryUsage.rss(), oldGeneration: oldGeneration() };
}

const mib = (bytes: number) => (bytes / MiB).toFixed(0);

export class MemoryGuard {
  /** RSS above which exports are refused. */
  readonly softLimitBytes: number;
  readonly #read: () => MemoryReading;

  /** `limitBytes` is config `memoryLimit`; tests pass `read` to see fixed readings. */
  constructor(
    readonly limitBytes: number,
    read: () => MemoryReading = readMemory,
  ) {
    this.softLimitBytes = RESIDENT_PRESSURE_RATIO * limitBytes;
    this.#read = read;
  }

  /** Why an export must be refused now, or undefined when there is room. */
  pressure(): string | undefined {
    const { residentBytes, oldGeneration: heap } = this.#read();
    if (residentBytes > this.softLimitBytes) {
      return `resident memory ${mib(residentBytes)} MiB is over ${RESIDENT_PRESSURE_RATIO * 100}% of memoryLimit (${mib(this.limitBytes)} MiB)`;
    }
    if (heap.usedBytes > HEAP_PRESSURE_RATIO * heap.limitBytes) {
      return `heap old generation ${mib(heap.usedBytes)} MiB of its ${mib(heap.limitBytes)} MiB limit (refusing above ${HEAP_PRESSURE_RATIO * 100}%)`;
    }
    return undefined;
  }
}
