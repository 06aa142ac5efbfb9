// Estimated devices (a VM or container without RAPL) are charged their share of the reference server,
// per vCPU and per GiB, not whole parts (docs/methodology.md, "Embodied emissions").
import { describe, expect, it } from 'vitest';
import { createCarbonAccountant } from '../../src/carbon/create-accountant.ts';
import { EmbodiedModel, type EmbodiedDevice } from '../../src/carbon/embodied.ts';
import { CPU_KG_PER_VCPU, MEMORY_KG_PER_GIB, PLATFORM_KG_PER_VCPU } from '../../src/carbon/host-share.ts';
import { EstimatorSource } from '../../src/devices/estimator.ts';
import { carbonConfig, captureLogger, share } from '../support/carbon-helpers.ts';

const GIB = 2 ** 30;
/** 4 years x 31 557 600 s: the reference server's lifetime in seconds. */
const LIFETIME_S = 4 * 31_557_600;

function estimated(type: 'cpu' | 'memory', info: Record<string, string>): EmbodiedDevice {
  return { id: `estimator:${type}`, type, name: `estimated ${type}`, method: 'model', info };
}

const vm = (vcpus: number, gib: number) => [estimated('cpu', { cpus: String(vcpus) }), estimated('memory', { memoryBytes: String(gib * GIB) })];

const gramsPerSecond = (model: EmbodiedModel, type: 'cpu' | 'memory') =>
  model.grams({ deviceId: `estimator:${type}`, deviceType: type, deviceName: `estimated ${type}`, deviceSeconds: 1 });

describe('embodied emissions of estimated devices', () => {
  it('derives per-vCPU and per-GiB coefficients from the part defaults and the 96-vCPU, 384 GiB reference server', () => {
    expect(CPU_KG_PER_VCPU).toBe((2 * 21.69) / 96); // 0.451875 kg per vCPU
    expect(PLATFORM_KG_PER_VCPU).toBe(368.09 / 96); // 3.834 kg per vCPU
    expect(MEMORY_KG_PER_GIB).toBe((2 * 267.3) / 384); // 1.3921875 kg per GiB
  });

  it('charges a 2-vCPU, 8 GiB VM its share of the server: 0.2445 g/h cpu (with chassis) + 0.3176 g/h memory', () => {
    const model = new EmbodiedModel([]);
    model.useHostDevices(vm(2, 8));
    // cpu: 2 vCPUs x (2 x 21.69 + 368.09) kg / 96 vCPUs = 8.5722916 kg over 4 years
    expect(model.factorFor(vm(2, 8)[0]!)).toEqual({ manufacturingKgCo2e: 2 * (CPU_KG_PER_VCPU + PLATFORM_KG_PER_VCPU), lifetimeYears: 4 });
    expect(gramsPerSecond(model, 'cpu')).toBeCloseTo(6.790988277520048e-5, 18);
    expect(gramsPerSecond(model, 'cpu')).toBeCloseTo((((2 * (2 * 21.69 + 368.09)) / 96) * 1000) / LIFETIME_S, 18);
    // memory: 8 GiB x 2 x 267.3 kg / 384 GiB = 11.1375 kg over 4 years
    expect(model.factorFor(vm(2, 8)[1]!).manufacturingKgCo2e).toBeCloseTo(11.1375, 12);
    expect(gramsPerSecond(model, 'memory')).toBeCloseTo(8.823151950718686e-5, 18);
    expect(gramsPerSecond(model, 'memory')).toBeCloseTo((((8 * 2 * 267.3) / 384) * 1000) / LIFETIME_S, 18);
    // One hour of the VM: 0.5621 g, where whole parts (21.69 + 267.3 kg) would have charged 8.2418 g.
    const hour =
      model.grams({ deviceId: 'estimator:cpu', deviceType: 'cpu', deviceName: 'estimated cpu', deviceSeconds: 3600 }) +
      model.grams({ deviceId: 'estimator:memory', deviceType: 'memory', deviceName: 'estimated memory', deviceSeconds: 3600 });
    expect(hour).toBeCloseTo(0.5621090482165945, 14);
  });

  it('charges the whole reference server when the estimator models all of it (bare metal without RAPL)', () => {
    const model = new EmbodiedModel([]);
    const host = vm(96, 384);
    model.useHostDevices(host);
    const totalKg = host.reduce((sum, device) => sum + model.factorFor(device).manufacturingKgCo2e, 0);
    expect(totalKg).toBeCloseTo(2 * 21.69 + 368.09 + 2 * 267.3, 10); // 946.07 kg: two packages, the chassis, two memory domains
  });

  it('reads the share from the estimator devices themselves', async () => {
    const source = new EstimatorSource({
      hostRoot: '/nonexistent',
      classes: ['cpu', 'memory'],
      readCpuTimes: async () => ({ busy: 0, total: 0, cpuCount: 2 }),
      readMemoryBytes: async () => 8 * GIB,
    });
    const { devices } = await source.discover();
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE' }), captureLogger().logger);
    accountant.useHostDevices(devices);
    const grams = (device: (typeof devices)[number]) =>
      accountant.account(share({ deviceId: device.id, deviceType: device.type, deviceName: device.name, deviceSeconds: 10 })).embodiedGrams;
    expect(grams(devices[0]!)).toBeCloseTo(10 * 6.790988277520048e-5, 17);
    expect(grams(devices[1]!)).toBeCloseTo(10 * 8.823151950718686e-5, 17);
  });

  it('leaves the chassis to a platform device when the host has one', () => {
    const model = new EmbodiedModel([]);
    model.useHostDevices([...vm(2, 8), { id: 'hwmon:power_meter', type: 'platform', name: 'power_meter', method: 'power' }]);
    expect(model.factorFor(vm(2, 8)[0]!).manufacturingKgCo2e).toBe(2 * CPU_KG_PER_VCPU); // 0.90375 kg
  });

  it('counts 0 for estimated cpu and memory while a GPU default carries the host', () => {
    const model = new EmbodiedModel([]);
    model.useHostDevices([...vm(8, 64), { id: 'GPU-0', type: 'gpu', name: 'NVIDIA A10G', method: 'counter' }]);
    expect(gramsPerSecond(model, 'cpu')).toBe(0);
    expect(gramsPerSecond(model, 'memory')).toBe(0);
  });

  it('lets config overrides win over the share', () => {
    const model = new EmbodiedModel([{ match: 'estimated', manufacturingKgCo2e: 20, lifetimeYears: 4 }]);
    model.useHostDevices(vm(2, 8));
    expect(model.factorFor(vm(2, 8)[0]!)).toMatchObject({ manufacturingKgCo2e: 20, lifetimeYears: 4 });
    expect(model.factorFor(vm(2, 8)[1]!)).toMatchObject({ manufacturingKgCo2e: 20 });
  });

  it('falls back to the whole part when the estimator could not tell its size, and measured parts keep theirs', () => {
    const model = new EmbodiedModel([]);
    const unknown = estimated('cpu', { cpus: 'unknown' });
    model.useHostDevices([unknown]);
    expect(model.factorFor(unknown).manufacturingKgCo2e).toBe(21.69);
    expect(model.factorFor({ type: 'memory', name: 'dram', method: 'counter', info: { memoryBytes: String(8 * GIB) } }).manufacturingKgCo2e).toBe(267.3);
  });
});
