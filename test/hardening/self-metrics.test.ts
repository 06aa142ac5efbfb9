// The agent's own process and runtime series on /metrics, under prom-client's names, against what
// the kernel and V8 report for this very process (the daemon runs in-process here).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sampleValue, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startTestDaemon({ hostRoot: mkdtempSync(join(tmpdir(), 'footprint-self-')) });
});
afterAll(async () => daemon?.close());

it('publishes process_* and nodejs_* with the values /proc/self and V8 give', async () => {
  const exposition = await daemon.scrape();
  const softLimit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
  expect(sampleValue(exposition, 'process_max_fds')).toBe(softLimit);
  expect(sampleValue(exposition, 'process_start_time_seconds')).toBe(performance.timeOrigin / 1000);
  expect(exposition).toContain('# TYPE process_cpu_seconds_total counter');
  for (const name of [
    'process_resident_memory_bytes',
    'process_virtual_memory_bytes',
    'process_heap_bytes',
    'process_open_fds',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
  ]) {
    expect(exposition, name).toContain(`# TYPE ${name} gauge`);
  }
  // Read just after the scrape: within one page-rounding of the kernel's figure a moment later.
  const residentNow = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  expect(Math.abs(sampleValue(exposition, 'process_resident_memory_bytes')! - residentNow)).toBeLessThan(32 * 2 ** 20);
});
