import { describe, expect, it } from 'vitest';
import { MemoryGuard } from '../../src/ingest/memory-guard.ts';
import { SpanQueue, type RefusalReason } from '../../src/ingest/queue.ts';

const roomy = () => undefined;
const MiB = 2 ** 20;

describe('SpanQueue limits', () => {
  it('refuses a request whose body bytes would pass the byte limit while others wait, and takes it again once they ran', async () => {
    const held: (() => void)[] = [];
    const refusals: RefusalReason[] = [];
    const queue = new SpanQueue({
      limitSpans: 1000,
      limitBytes: 100,
      memoryPressure: roomy,
      onRefusal: (reason) => refusals.push(reason),
      schedule: (turn) => held.push(turn),
    });
    const first = queue.offer(1, () => 'first', 60);
    expect(queue.offer(1, () => 'second', 41)).toBeUndefined();
    expect(queue.lastRefusal).toBe('ingest queue is full (100 bytes)');
    expect(queue.offer(1, () => 'fits', 40)).toBeDefined();
    held.shift()!();
    expect(await first).toBe('first');
    held.shift()!();
    expect(queue.offer(1, () => 'alone', 500)).toBeDefined();
    expect(refusals).toEqual(['queue']);
  });

  it('refuses every request, even into an empty queue, while memory is under pressure, and counts each as a memory refusal', () => {
    const refusals: RefusalReason[] = [];
    const guard = new MemoryGuard(256 * MiB, () => ({ residentBytes: 100 * MiB, oldGeneration: { usedBytes: 58 * MiB, limitBytes: 64 * MiB } }));
    const queue = new SpanQueue({
      limitSpans: 1000,
      limitBytes: 1000,
      memoryPressure: () => guard.pressure(),
      onRefusal: (reason) => refusals.push(reason),
      schedule: () => {},
    });
    expect(queue.offer(1, () => 'work', 10)).toBeUndefined();
    expect(queue.accepts(1, 10)).toBe(false);
    expect(queue.lastRefusal).toBe('heap old generation 58 MiB of its 64 MiB limit (refusing above 60%)');
    expect(refusals).toEqual(['memory', 'memory']);
  });

  it('refuses a queued job when memory came under pressure before its turn: counted once, answered as a refusal', async () => {
    const held: (() => void)[] = [];
    const refusals: RefusalReason[] = [];
    let pressure: string | undefined;
    const queue = new SpanQueue({
      limitSpans: 1000,
      limitBytes: 1000,
      memoryPressure: () => pressure,
      onRefusal: (reason) => refusals.push(reason),
      schedule: (turn) => held.push(turn),
    });
    const queued = queue.offer(1, () => 'work', 10)!;
    pressure = 'resident memory 200 MiB is over 70% of memoryLimit (256 MiB)';
    held.shift()!();
    expect(await queued).toEqual({ reason: pressure });
    expect(refusals).toEqual(['memory']);
  });
});
