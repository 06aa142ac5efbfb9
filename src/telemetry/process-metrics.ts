// The agent watches itself: the process's memory, CPU, file descriptors and event-loop delay,
// read when a reader collects (a scrape or an OTLP push), so the values are fresh and a stalled
// sample tick cannot freeze them. Linux /proc reads are a few small files; elsewhere the /proc
// series are left out and Node's own figures remain.
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { METRICS } from './contract.ts';
import type { SeriesStore } from './series-store.ts';

/** The fields of /proc/self/status we publish, in kB there (proc(5)). */
const STATUS_FIELDS = { VmRSS: METRICS.processResident, VmSize: METRICS.processVirtual, VmData: METRICS.processHeap } as const;

/** Soft "Max open files" from /proc/self/limits (proc(5)); undefined when unlimited or unreadable. */
export function maxOpenFiles(limitsText = readProc('/proc/self/limits')): number | undefined {
  const match = /^Max open files\s+(\d+)/m.exec(limitsText ?? '');
  return match ? Number(match[1]) : undefined;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export interface ProcessMetrics {
  /** Writes every process series into the store. */
  record(nowMs: number): void;
  close(): void;
}

/** `memoryLimitBytes` is the budget the memory guard holds the process to, published beside its RSS. */
export function createProcessMetrics(store: SeriesStore, memoryLimitBytes: number): ProcessMetrics {
  // 10 ms sampling resolution, prom-client's default for its event-loop histogram.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const startTimeSeconds = performance.timeOrigin / 1000;

  return {
    record(nowMs) {
      const cpu = process.cpuUsage();
      store.set(METRICS.processCpu, {}, (cpu.user + cpu.system) / 1e6, nowMs);
      store.set(METRICS.processStartTime, {}, startTimeSeconds, nowMs);
      store.set(METRICS.memoryLimit, {}, memoryLimitBytes, nowMs);
      const heap = process.memoryUsage();
      store.set(METRICS.heapUsed, {}, heap.heapUsed, nowMs);
      store.set(METRICS.heapTotal, {}, heap.heapTotal, nowMs);
      // percentile() is NaN before the first sample; 0 s is the honest delay then.
      store.set(METRICS.eventLoopLagP99, {}, (loopDelay.percentile(99) || 0) / 1e9, nowMs);
      loopDelay.reset();

      const status = readProc('/proc/self/status');
      for (const [field, spec] of Object.entries(STATUS_FIELDS)) {
        const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status ?? '');
        if (match) store.set(spec, {}, Number(match[1]) * 1024, nowMs);
      }
      try {
        store.set(METRICS.processOpenFds, {}, readdirSync('/proc/self/fd').length, nowMs);
      } catch {
        // Not Linux: no per-process descriptor table to count.
      }
      const maxFds = maxOpenFiles();
      if (maxFds !== undefined) store.set(METRICS.processMaxFds, {}, maxFds, nowMs);
    },
    close() {
      loopDelay.disable();
    },
  };
}
