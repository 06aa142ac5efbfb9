import { describe, expect, it } from 'vitest';
import { HEAP_PRESSURE_RATIO, MemoryGuard, RESIDENT_PRESSURE_RATIO, readMemory, semiSpaceBytes } from '../../src/ingest/memory-guard.ts';
import { residentBytes } from '../support/daemon-process.ts';

const MiB = 2 ** 20;
const calmHeap = { usedBytes: 10 * MiB, limitBytes: 64 * MiB };

describe('MemoryGuard', () => {
  it('refuses above 70% of memoryLimit in resident memory, naming the reading and the budget', () => {
    const guard = new MemoryGuard(256 * MiB, () => ({ residentBytes: 180 * MiB, oldGeneration: calmHeap }));
    expect(guard.softLimitBytes).toBe(0.7 * 256 * MiB);
    expect(guard.pressure()).toBe('resident memory 180 MiB is over 70% of memoryLimit (256 MiB)');
  });

  it('takes exports up to exactly the soft limit of resident memory and exactly the pressure ratio of the old generation', () => {
    const guard = new MemoryGuard(256 * MiB, () => ({
      residentBytes: RESIDENT_PRESSURE_RATIO * 256 * MiB,
      oldGeneration: { usedBytes: HEAP_PRESSURE_RATIO * 64 * MiB, limitBytes: 64 * MiB },
    }));
    expect(guard.pressure()).toBeUndefined();
  });

  it("refuses above 60% of V8's old generation limit even when resident memory has room (a launcher's --max-old-space-size)", () => {
    const guard = new MemoryGuard(1024 * MiB, () => ({ residentBytes: 100 * MiB, oldGeneration: { usedBytes: 39 * MiB, limitBytes: 64 * MiB } }));
    expect(guard.pressure()).toBe('heap old generation 39 MiB of its 64 MiB limit (refusing above 60%)');
  });

  it('reads this process: its RSS as /proc/self/status reports it, and an old generation far below its limit (no --max-old-space-size)', () => {
    const reading = readMemory();
    // Both read the kernel's same counter a moment apart; the test runner allocates little in between.
    expect(Math.abs(reading.residentBytes - residentBytes(process.pid))).toBeLessThan(8 * MiB);
    expect(reading.oldGeneration.usedBytes).toBeLessThan(HEAP_PRESSURE_RATIO * reading.oldGeneration.limitBytes);
    expect(new MemoryGuard(2 ** 40).pressure()).toBeUndefined();
  });

  it('knows the semi-space size V8 runs with: 16 MiB unless a flag says otherwise, rounded up to a power of two', () => {
    expect(semiSpaceBytes([])).toBe(16 * MiB);
    expect(semiSpaceBytes(['--max-old-space-size=64', '--max-semi-space-size=3'])).toBe(4 * MiB);
    expect(semiSpaceBytes(['--max_semi_space_size', '2', '--max-semi-space-size=1'])).toBe(1 * MiB);
  });
});
