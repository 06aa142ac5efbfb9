// The worked SCI example of docs/methodology.md (carbon section), number for number.
import { describe, expect, it } from 'vitest';
import { createCarbonAccountant } from '../../src/carbon/create-accountant.ts';
import { carbonConfig, captureLogger, share } from '../support/carbon-helpers.ts';

describe('SCI worked example', () => {
  const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE', pue: 1.2 }), captureLogger().logger);
  const hour = Date.UTC(2026, 5, 1, 10);
  const footprint = accountant.account(share({ startMs: hour, endMs: hour + 3_600_000, energyJoules: 1_080_000, deviceSeconds: 3600 }));
  const grams = footprint.operationalGrams + footprint.embodiedGrams;

  it('operational = 0.3 kWh x 1.2 x 380.95 g/kWh', () => {
    expect(footprint.operationalGrams).toBeCloseTo(137.142, 10);
  });

  it('embodied = 318 kg x 1000 / (4 x 31 557 600 s) x 3600 s', () => {
    expect(footprint.embodiedGrams).toBeCloseTo(9.069130732375086, 12);
  });

  it('SCI per request and per output token', () => {
    expect(grams).toBeCloseTo(146.21113073237507, 10);
    expect(grams / 12_000).toBeCloseTo(0.0121842608943646, 14);
    expect(grams / 1_800_000).toBeCloseTo(0.0000812284059624306, 16);
  });
});
