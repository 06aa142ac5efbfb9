// Power samples -> energy, for sources that only report watts.

/** Trapezoid rule between two power samples: the mean of both ends times the elapsed time. */
export function trapezoidJoules(previousWatts: number, currentWatts: number, elapsedMs: number): number {
  return ((previousWatts + currentWatts) / 2) * (elapsedMs / 1000);
}
