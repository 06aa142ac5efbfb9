import { describe, expect, it } from 'vitest';
import { HEAP_PRESSURE_RATIO, heapPressure, heapUsedRatio } from '../../src/ingest/heap-guard.ts';
import { SpanQueue } from '../../src/ingest/queue.ts';

const roomy = () => undefined;

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
    const queue = new SpanQueue({ limitSpans: 1000, limitBytes: 1000, heapPressure: () => heapPressure(() => 0.9), schedule: () => {} });
    expect(queue.offer(1, () => 'work', 10)).toBeUndefined();
    expect(queue.lastRefusal).toBe(`heap 90% of its limit (refusing above ${HEAP_PRESSURE_RATIO * 100}%)`);
  });

  it('reads the heap from V8: this test process is far below its limit', () => {
    expect(heapPressure(() => HEAP_PRESSURE_RATIO)).toBeUndefined();
    expect(heapUsedRatio()).toBeLessThan(HEAP_PRESSURE_RATIO);
  });
});
