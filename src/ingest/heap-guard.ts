// Refuses exports while the V8 old generation is nearly full, so a burst is answered 429 /
// RESOURCE_EXHAUSTED and retried by the exporter instead of growing the heap until the process dies
// of "heap out of memory" (or the container is OOM-killed). V8's heap_size_limit is the old
// generation (--max-old-space-size, which the chart derives from the container's memory limit) plus
// the young generation (three semi-spaces of --max-semi-space-size). Young objects die in scavenges;
// only what survives reaches the old generation, and only the old generation's limit is fatal, so the
// guard compares the old generation's use against the old generation's limit: with a 64 MiB cap and
// 16 MiB semi-spaces the whole-heap ratio could never pass 75% before the old generation was full.
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

/**
 * Share of the old generation limit above which exports are refused. The rest is room for what is
 * already in flight: every connection can be decoding a body that passed the check (16 exporters x
 * 1,000 spans is about 16 MiB of decoded objects), and the spans held for the lag until they settle.
 * At 75% a 64 MiB heap still died under a 16-client flood (test/hardening/heap-cap.test.ts).
 */
export const HEAP_PRESSURE_RATIO = 0.6;

const MiB = 2 ** 20;
/** V8's semi-space size on 64-bit platforms when --max-semi-space-size is not given. */
const DEFAULT_SEMI_SPACE_MIB = 16;
/** The young generation is two semi-spaces plus a new large-object space of the same size. */
const YOUNG_GENERATION_SEMI_SPACES = 3;
const YOUNG_SPACES = new Set(['new_space', 'new_large_object_space']);

export interface OldGeneration {
  usedBytes: number;
  limitBytes: number;
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
export function oldGeneration(): OldGeneration {
  let usedBytes = 0;
  for (const space of getHeapSpaceStatistics()) if (!YOUNG_SPACES.has(space.space_name)) usedBytes += space.space_used_size;
  return { usedBytes, limitBytes: getHeapStatistics().heap_size_limit - youngGenerationBytes };
}

/** Why an export must be refused now, or undefined when the old generation has room. */
export function heapPressure(read: () => OldGeneration = oldGeneration): string | undefined {
  const { usedBytes, limitBytes } = read();
  if (usedBytes <= HEAP_PRESSURE_RATIO * limitBytes) return undefined;
  return `heap old generation ${(usedBytes / MiB).toFixed(0)} MiB of its ${(limitBytes / MiB).toFixed(0)} MiB limit (refusing above ${HEAP_PRESSURE_RATIO * 100}%)`;
}
