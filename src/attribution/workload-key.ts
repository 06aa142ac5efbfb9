// A stable key for a workload's attribute set, used to aggregate shares and series.
import type { Workload } from './activity.ts';

export const IDLE: Workload = Object.freeze({ phase: 'idle' });

export function workloadKey(workload: Workload): string {
  return `${workload.model ?? ''}\u0000${workload.job ?? ''}\u0000${workload.phase ?? ''}\u0000${workload.namespace ?? ''}\u0000${workload.pod ?? ''}`;
}
