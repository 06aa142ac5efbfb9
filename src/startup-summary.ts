// The one line a person reads at start-up: what is measured, what is estimated, and how to fix it.
import type { DeviceInventory } from './devices/registry.ts';

export function startupSummary({ devices, problems }: DeviceInventory): string {
  const measured = devices.filter((device) => device.method !== 'model');
  const estimated = devices.filter((device) => device.method === 'model');
  const parts = [
    measured.length > 0
      ? `measuring ${measured.length} device(s): ${measured.map((device) => `${device.id} (${device.method})`).join(', ')}`
      : 'no readable hardware energy counters',
  ];
  if (estimated.length > 0) {
    parts.push(`ESTIMATED from load (measurement.method="model"): ${estimated.map((device) => device.type).join(', ')}`);
  }
  // The estimator's own notes repeat what the ESTIMATED part says; the sources' problems carry the fixes.
  const fixes = [
    ...new Set(problems.filter((problem) => problem.source !== 'estimator').map((problem) => `${problem.source}: ${problem.message} (fix: ${problem.fix})`)),
  ];
  if (fixes.length > 0) parts.push(`missing: ${fixes.join(' | ')}`);
  return parts.join('; ');
}
