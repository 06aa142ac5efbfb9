// Raw hardware energy counters -> non-negative deltas, or nothing when the step is not physical.
// RAPL wraps at max_energy_range_uj; NVML's counter restarts from zero when the driver reloads.

export type CounterEvent = 'advance' | 'wrap' | 'reset' | 'implausible';

export interface CounterDelta {
  /** Counter units (not joules) consumed since the previous value; 0 when implausible. */
  deltaUnits: number;
  event: CounterEvent;
}

/**
 * The energy between two counter values, accepted only when it implies at most `maxUnits` (the power
 * bound times the elapsed time, in counter units). A smaller value is a wrap when the counter has a
 * known range and the energy over the top (`wrapAt - previous + current`) is within the bound, so only
 * a value near the top can wrap; without a range it is a reset (the driver restarted the counter at 0)
 * when the current value alone is within the bound. Anything else, and any value above the range, is
 * `implausible`: a glitch that contributes nothing.
 */
export function counterDelta(previousUnits: number, currentUnits: number, maxUnits: number, wrapAtUnits?: number): CounterDelta {
  const implausible: CounterDelta = { deltaUnits: 0, event: 'implausible' };
  if (wrapAtUnits !== undefined && currentUnits > wrapAtUnits) return implausible;
  let delta: CounterDelta;
  if (currentUnits >= previousUnits) delta = { deltaUnits: currentUnits - previousUnits, event: 'advance' };
  else if (wrapAtUnits !== undefined) delta = { deltaUnits: wrapAtUnits - previousUnits + currentUnits, event: 'wrap' };
  else delta = { deltaUnits: currentUnits, event: 'reset' };
  return delta.deltaUnits <= maxUnits ? delta : implausible;
}
