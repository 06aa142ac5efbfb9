// Raw hardware energy counters -> non-negative deltas. RAPL wraps at max_energy_range_uj;
// NVML's counter restarts from zero when the driver reloads.

export type CounterEvent = 'advance' | 'wrap' | 'reset';

export interface CounterDelta {
  /** Counter units (not joules) consumed since the previous value. */
  deltaUnits: number;
  event: CounterEvent;
}

/**
 * The energy between two counter values. A smaller value is a wrap when the counter has a known
 * range (it passed `wrapAt` and started again at 0), otherwise a reset: the counter restarted at 0
 * somewhere in the interval, so what it shows now is the energy since then. Neither is ever negative.
 */
export function counterDelta(previousUnits: number, currentUnits: number, wrapAtUnits?: number): CounterDelta {
  if (currentUnits >= previousUnits) return { deltaUnits: currentUnits - previousUnits, event: 'advance' };
  if (wrapAtUnits !== undefined && previousUnits <= wrapAtUnits) {
    return { deltaUnits: wrapAtUnits - previousUnits + currentUnits, event: 'wrap' };
  }
  return { deltaUnits: currentUnits, event: 'reset' };
}
