// A stable key for a workload's attribute set, used to aggregate shares and series.
import type { Workload } from './activity.ts';

export const IDLE: Workload = Object.freeze({ phase: 'idle' });

/** Keys of workload objects already seen: the ledger's span workloads are shared, so each is built once. */
const keys = new WeakMap<Workload, string>();

/** The key, made afresh (for workloads about to be interned, which would only pass through the cache). */
export function workloadKeyOf(workload: Workload): string {
  return `${workload.model ?? ''}\u0000${workload.job ?? ''}\u0000${workload.phase ?? ''}\u0000${workload.namespace ?? ''}\u0000${workload.pod ?? ''}`;
}

export function workloadKey(workload: Workload): string {
  let key = keys.get(workload);
  if (key === undefined) {
    key = workloadKeyOf(workload);
    keys.set(workload, key);
  }
  return key;
}
