// A stable key for a workload's attribute set, used to aggregate shares and series.
import type { Workload } from './activity.ts';

export const IDLE: Workload = Object.freeze({ phase: 'idle' });

/** Keys of workload objects already seen: the ledger's span workloads are shared, so each is built once. */
const keys = new WeakMap<Workload, string>();

export function workloadKey(workload: Workload): string {
  let key = keys.get(workload);
  if (key === undefined) {
    key = `${workload.model ?? ''}\u0000${workload.job ?? ''}\u0000${workload.phase ?? ''}\u0000${workload.namespace ?? ''}\u0000${workload.pod ?? ''}`;
    keys.set(workload, key);
  }
  return key;
}
