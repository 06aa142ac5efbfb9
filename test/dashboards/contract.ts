// The series names dashboards and rules may read: the daemon's metric contract
// (src/telemetry/contract.ts), its resource attributes as target_info, and the names footprint's
// own recording rules record.
import { ALL_METRICS, prometheusSeriesNames } from '../../src/telemetry/contract.ts';
import { recordedNames } from './exprs.ts';

export function allowedSeriesNames(): Set<string> {
  return new Set([...ALL_METRICS.flatMap(prometheusSeriesNames), 'target_info', ...recordedNames()]);
}
