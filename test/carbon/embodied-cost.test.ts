import { describe, expect, it } from 'vitest';
import { createCarbonAccountant, splitShare } from '../../src/carbon/create-accountant.ts';
import { EmbodiedModel, gramsPerDeviceSecond } from '../../src/carbon/embodied.ts';
import { TimeOfUseTariff } from '../../src/carbon/tariff.ts';
import { joulesToKwh, poundsPerMwhToGramsPerKwh, SECONDS_PER_YEAR } from '../../src/carbon/units.ts';
import { carbonConfig, captureLogger, share } from '../support/carbon-helpers.ts';

describe('unit conversions', () => {
  it('are exact', () => {
    expect(joulesToKwh(3_600_000)).toBe(1);
    expect(joulesToKwh(1800)).toBe(0.0005);
    expect(SECONDS_PER_YEAR).toBe(31_557_600);
    // 1000 lbs/MWh = 453.59237 g/kWh
    expect(poundsPerMwhToGramsPerKwh(1000)).toBe(453.59237);
    expect(poundsPerMwhToGramsPerKwh(1)).toBeCloseTo(0.45359237, 15);
  });
});

describe('embodied', () => {
  it('amortises kgCO2e over the lifetime per device-second', () => {
    // 318 kg x 1000 / (4 x 31 557 600 s)
    expect(gramsPerDeviceSecond({ manufacturingKgCo2e: 318, lifetimeYears: 4 })).toBeCloseTo(318_000 / 126_230_400, 15);
    const model = new EmbodiedModel([]);
    expect(model.grams(share({ deviceName: 'NVIDIA H100', deviceSeconds: 3600 }))).toBeCloseTo((318_000 / 126_230_400) * 3600, 12);
    expect(model.grams(share({ deviceId: 'core', deviceType: 'cpu-core', deviceName: 'core', deviceSeconds: 3600 }))).toBe(0);
  });

  it('bundles server defaults recomputed from their sources (docs/methodology.md)', () => {
    const model = new EmbodiedModel([]);
    // BoaviztAPI CPU: (24 cores x 0.245 cm2 + 0.491 cm2) x 1.97 kg/cm2 + 9.14 kg
    expect(model.factorFor({ type: 'cpu', name: 'package-0' }).manufacturingKgCo2e).toBe(round2((24 * 0.245 + 0.491) * 1.97 + 9.14));
    expect(model.factorFor({ type: 'cpu', name: 'package-0' }).manufacturingKgCo2e).toBe(21.69);
    // BoaviztAPI RAM, 6 x 32 GB modules at 1.79 GB/cm2 per memory domain: 6 x (32 / 1.79 x 2.20 + 5.22)
    expect(model.factorFor({ type: 'memory', name: 'dram' }).manufacturingKgCo2e).toBe(Math.round(6 * ((32 / 1.79) * 2.2 + 5.22) * 10) / 10);
    expect(model.factorFor({ type: 'memory', name: 'dram' }).manufacturingKgCo2e).toBe(267.3);
    // Boavizta fixed parts: motherboard + 2 x 2.99 kg PSU x 24.30 kg/kg + assembly + rack case
    expect(model.factorFor({ type: 'platform', name: 'power_meter' }).manufacturingKgCo2e).toBe(round2(66.1 + 2 * 2.99 * 24.3 + 6.68 + 150));
    expect(model.factorFor({ type: 'platform', name: 'power_meter' }).manufacturingKgCo2e).toBe(368.09);
    for (const type of ['gpu', 'cpu', 'memory', 'platform'] as const) expect(model.factorFor({ type, name: '' }).lifetimeYears).toBe(4);
    expect(model.factorFor({ type: 'other', name: 'ina3221' }).manufacturingKgCo2e).toBe(0);
  });

  it('does not count host parts twice when a GPU default already carries them', () => {
    const host = [
      { id: 'GPU-0', type: 'gpu', name: 'NVIDIA H100 80GB HBM3' },
      { id: 'rapl:package-0', type: 'cpu', name: 'package-0' },
      { id: 'rapl:package-0:dram', type: 'memory', name: 'dram' },
    ] as const;
    const model = new EmbodiedModel([]);
    model.useHostDevices(host);
    expect(model.grams(share({ deviceId: 'rapl:package-0', deviceType: 'cpu', deviceName: 'package-0', deviceSeconds: 3600 }))).toBe(0);
    expect(model.grams(share({ deviceId: 'rapl:package-0:dram', deviceType: 'memory', deviceName: 'dram', deviceSeconds: 3600 }))).toBe(0);
    expect(model.factorFor({ type: 'gpu', name: 'NVIDIA H100 80GB HBM3' }).manufacturingKgCo2e).toBe(318);
    // A GPU-only figure from config no longer carries the host: the host defaults count again.
    const gpuOnly = new EmbodiedModel([{ match: 'H100', manufacturingKgCo2e: 150, lifetimeYears: 5 }]);
    gpuOnly.useHostDevices(host);
    expect(gpuOnly.factorFor({ type: 'cpu', name: 'package-0' }).manufacturingKgCo2e).toBe(21.69);
    // An explicit override always applies, GPU or not.
    const explicit = new EmbodiedModel([{ match: 'cpu', manufacturingKgCo2e: 30, lifetimeYears: 6 }]);
    explicit.useHostDevices(host);
    expect(explicit.factorFor({ type: 'cpu', name: 'package-0' }).manufacturingKgCo2e).toBe(30);
    // Without GPUs the host parts use their defaults.
    const cpuOnly = new EmbodiedModel([]);
    cpuOnly.useHostDevices(host.slice(1));
    expect(cpuOnly.factorFor({ type: 'memory', name: 'dram' }).manufacturingKgCo2e).toBe(267.3);
  });

  it('config overrides match hw.type or a name substring, first match wins', () => {
    const model = new EmbodiedModel([
      { match: 'a100', manufacturingKgCo2e: 150, lifetimeYears: 5 },
      { match: 'gpu', manufacturingKgCo2e: 200, lifetimeYears: 4 },
      { match: 'cpu', manufacturingKgCo2e: 30, lifetimeYears: 6 },
    ]);
    expect(model.factorFor({ type: 'gpu', name: 'NVIDIA A100-SXM4-80GB' })).toMatchObject({ manufacturingKgCo2e: 150, lifetimeYears: 5 });
    expect(model.factorFor({ type: 'gpu', name: 'NVIDIA H100' })).toMatchObject({ manufacturingKgCo2e: 200 });
    expect(model.grams(share({ deviceId: 'package-0', deviceType: 'cpu', deviceName: 'package-0', deviceSeconds: 86_400 }))).toBeCloseTo(
      (30_000 / (6 * SECONDS_PER_YEAR)) * 86_400,
      12,
    );
  });

  it('flows through account() as embodiedGrams', () => {
    const accountant = createCarbonAccountant(
      carbonConfig({ zone: 'DE', embodied: [{ match: 'gpu', manufacturingKgCo2e: 31.5576, lifetimeYears: 1 }] }),
      captureLogger().logger,
    );
    // 31 557.6 g over 31 557 600 s = 0.001 g/s; 2 s
    expect(accountant.account(share({ deviceSeconds: 2 })).embodiedGrams).toBeCloseTo(0.002, 15);
  });
});

describe('cost', () => {
  it('flat price x kWh x PUE, and device-hour price by hw.type', () => {
    const accountant = createCarbonAccountant(
      carbonConfig({ zone: 'DE', pue: 1.25, pricePerKwh: 0.3, currency: 'EUR', deviceHourPrice: { gpu: 2.5 } }),
      captureLogger().logger,
    );
    const footprint = accountant.account(share({ energyJoules: 7_200_000, deviceSeconds: 1800 }));
    expect(footprint.energyCost).toBeCloseTo(2 * 1.25 * 0.3, 12);
    expect(footprint.hardwareCost).toBeCloseTo(1.25, 12);
    expect(accountant.currency).toBe('EUR');
    expect(accountant.account(share({ deviceType: 'cpu', deviceSeconds: 3600 })).hardwareCost).toBe(0);
  });

  const nightDay = [
    { from: '07:00', pricePerKwh: 0.4 },
    { from: '22:00', pricePerKwh: 0.1 },
  ];

  it('time-of-use wraps past midnight in the tariff time zone', () => {
    const tariff = new TimeOfUseTariff(nightDay, 'Europe/Berlin');
    // 2026-01-15 is CET (UTC+1): 06:59 local = 05:59Z
    expect(tariff.priceAt(Date.UTC(2026, 0, 15, 5, 59))).toBe(0.1);
    expect(tariff.priceAt(Date.UTC(2026, 0, 15, 6, 0))).toBe(0.4);
    expect(tariff.priceAt(Date.UTC(2026, 0, 15, 20, 59))).toBe(0.4);
    expect(tariff.priceAt(Date.UTC(2026, 0, 15, 21, 0))).toBe(0.1);
    expect(tariff.priceAt(Date.UTC(2026, 0, 15, 23, 30))).toBe(0.1); // 00:30 local, next day
    expect(tariff.changesBetween(Date.UTC(2026, 0, 15, 0), Date.UTC(2026, 0, 16, 0))).toEqual([Date.UTC(2026, 0, 15, 6, 0), Date.UTC(2026, 0, 15, 21, 0)]);
  });

  it('follows the DST change (Europe/Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST)', () => {
    const tariff = new TimeOfUseTariff(
      [
        { from: '00:00', pricePerKwh: 0.1 },
        { from: '02:30', pricePerKwh: 0.2 }, // does not exist on the change day: starts when the clock jumps
        { from: '07:00', pricePerKwh: 0.4 },
      ],
      'Europe/Berlin',
    );
    const dayStart = Date.UTC(2026, 2, 28, 23, 0); // 00:00 CET on the 29th
    expect(tariff.changesBetween(dayStart, Date.UTC(2026, 2, 29, 12, 0))).toEqual([
      Date.UTC(2026, 2, 29, 1, 0), // 02:00 CET = 03:00 CEST, the jump lands inside the 02:30 rate
      Date.UTC(2026, 2, 29, 5, 0), // 07:00 CEST = 05:00Z (it was 06:00Z the day before)
    ]);
    expect(tariff.priceAt(Date.UTC(2026, 2, 28, 6, 0))).toBe(0.4); // 07:00 CET on the 28th
    expect(tariff.priceAt(Date.UTC(2026, 2, 29, 5, 0))).toBe(0.4);
    expect(tariff.priceAt(Date.UTC(2026, 2, 29, 4, 59))).toBe(0.2);
  });

  it('and the autumn change (2026-10-25: 03:00 CEST -> 02:00 CET)', () => {
    const tariff = new TimeOfUseTariff(nightDay, 'Europe/Berlin');
    expect(tariff.changesBetween(Date.UTC(2026, 9, 24, 22, 0), Date.UTC(2026, 9, 25, 23, 0))).toEqual([
      Date.UTC(2026, 9, 25, 6, 0), // 07:00 CET
      Date.UTC(2026, 9, 25, 21, 0), // 22:00 CET
    ]);
  });

  it('account() splits a share that crosses a tariff boundary proportionally in time', () => {
    const accountant = createCarbonAccountant(
      carbonConfig({ zone: 'DE', pue: 1.1, tariff: nightDay, tariffTimeZone: 'Europe/Berlin' }),
      captureLogger().logger,
    );
    // 05:30Z..06:30Z = 06:30..07:30 local: half at 0.1, half at 0.4; 1 kWh measured
    const footprint = accountant.account(share({ startMs: Date.UTC(2026, 0, 15, 5, 30), endMs: Date.UTC(2026, 0, 15, 6, 30), energyJoules: 3_600_000 }));
    expect(footprint.energyCost).toBeCloseTo(0.5 * 1.1 * 0.1 + 0.5 * 1.1 * 0.4, 12);
    expect(footprint.operationalGrams).toBeCloseTo(1.1 * 380.95, 10);
  });

  it('rejects an unknown tariff time zone naming the key', () => {
    expect(() => createCarbonAccountant(carbonConfig({ tariff: nightDay, tariffTimeZone: 'Mars/Olympus' }), captureLogger().logger)).toThrow(
      /^config: tariffTimeZone: 'Mars\/Olympus'/,
    );
  });
});

describe('splitShare', () => {
  it('divides energy by time and ignores cuts outside the range', () => {
    const pieces = splitShare({ startMs: 0, endMs: 4000, energyJoules: 100 }, [1000, 1000, -5, 4000, 9000]);
    expect(pieces).toEqual([
      { energyJoules: 25, probeMs: 0 },
      { energyJoules: 75, probeMs: 1000 },
    ]);
  });
});

const round2 = (value: number) => Math.round(value * 100) / 100;
