import { describe, expect, it } from 'vitest';
import { HEAP_PRESSURE_RATIO, heapPressure, oldGeneration, semiSpaceBytes } from '../../src/ingest/heap-guard.ts';
import { SpanQueue } from '../../src/ingest/queue.ts';

const roomy = () => undefined;
const MiB = 2 ** 20;

describe('SpanQueue limits', () => {
  it('refuses a request whose body bytes would pass the byte limit while others wait, and takes it again once they ran', async () => {
    const held: (() => void)[] = [];
    const queue = new SpanQueue({ limitSpans: 1000, limitBytes: 100, heapPressure: roomy, schedule: (turn) => held.push(turn) });
    const first = queue.offer(1, () => 'first', 60);
    expect(queue.offer(1, () => 'second', 41)).toBeUndefined();
    expect(queue.lastRefusal).toBe('ingest queue is full (100 bytes)');
    expect(queue.offer(1, () => 'fits', 40)).toBeDefined();
    held.shift()!();
    expect(await first).toBe('first');
    held.shift()!();
    expect(queue.offer(1, () => 'alone', 500)).toBeDefined();
  });

  it('refuses every request, even into an empty queue, while the heap is under pressure', () => {
    const queue = new SpanQueue({
      limitSpans: 1000,
      limitBytes: 1000,
      heapPressure: () => heapPressure(() => ({ usedBytes: 58 * MiB, limitBytes: 64 * MiB })),
      schedule: () => {},
    });
    expect(queue.offer(1, () => 'work', 10)).toBeUndefined();
    expect(queue.lastRefusal).toBe('heap old generation 58 MiB of its 64 MiB limit (refusing above 60%)');
  });

  it('takes exports up to exactly the pressure ratio of the old generation limit', () => {
    expect(heapPressure(() => ({ usedBytes: HEAP_PRESSURE_RATIO * 64 * MiB, limitBytes: 64 * MiB }))).toBeUndefined();
  });

  it('reads the old generation from V8: this test process (no --max-old-space-size) is far below its limit', () => {
    const { usedBytes, limitBytes } = oldGeneration();
    expect(usedBytes).toBeLessThan(HEAP_PRESSURE_RATIO * limitBytes);
    expect(heapPressure()).toBeUndefined();
  });

  it('knows the semi-space size V8 runs with: 16 MiB unless a flag says otherwise, rounded up to a power of two', () => {
    expect(semiSpaceBytes([])).toBe(16 * MiB);
    expect(semiSpaceBytes(['--max-old-space-size=64', '--max-semi-space-size=3'])).toBe(4 * MiB);
    expect(semiSpaceBytes(['--max_semi_space_size', '2', '--max-semi-space-size=1'])).toBe(1 * MiB);
  });
});
