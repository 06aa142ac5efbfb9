// Which devices make up the whole host, so every joule is counted once: in hw.host.*, and in the
// CO2e, cost and attribution that footprint computes from device energy.
import type { Device, MeasurementMethod } from './source.ts';

const METHOD_TRUST: Record<MeasurementMethod, number> = { model: 0, power: 1, counter: 2 };

/**
 * psys (`whole`) when present, else the non-overlapping parts (RAPL packages, DRAM, estimated
 * CPU and memory); plus external boards (GPUs). Sub-zones and sensors inside these are measured
 * (hw.energy, hw.power) but never added, priced or attributed on top.
 */
export function hostDevices(devices: readonly Device[]): Device[] {
  const hasWhole = devices.some((device) => device.hostRole === 'whole');
  return devices.filter((device) => device.hostRole === 'external' || device.hostRole === (hasWhole ? 'whole' : 'part'));
}

/** The host figure is only as trustworthy as its weakest contributor. */
export function weakestMethod(devices: readonly Device[]): MeasurementMethod {
  return devices.reduce<MeasurementMethod>((weakest, device) => (METHOD_TRUST[device.method] < METHOD_TRUST[weakest] ? device.method : weakest), 'counter');
}
