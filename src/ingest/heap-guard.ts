// Refuses exports while the V8 heap is nearly full, so a burst is answered 429 / RESOURCE_EXHAUSTED
// and retried by the exporter instead of growing the heap until the process dies (or the container
// is OOM-killed). The heap limit is Node's --max-old-space-size, which the chart derives from the
// container's memory limit.
import { getHeapStatistics } from 'node:v8';

/** Share of the heap limit above which exports are refused: leaves room for the spans already queued to settle. */
export const HEAP_PRESSURE_RATIO = 0.75;

/** Heap in use over the heap limit (0..1). */
export function heapUsedRatio(): number {
  const { used_heap_size: usedBytes, heap_size_limit: limitBytes } = getHeapStatistics();
  return usedBytes / limitBytes;
}

/** Why an export must be refused now, or undefined when the heap has room. */
export function heapPressure(usedRatio: () => number = heapUsedRatio): string | undefined {
  const ratio = usedRatio();
  if (ratio <= HEAP_PRESSURE_RATIO) return undefined;
  return `heap ${(ratio * 100).toFixed(0)}% of its limit (refusing above ${HEAP_PRESSURE_RATIO * 100}%)`;
}
