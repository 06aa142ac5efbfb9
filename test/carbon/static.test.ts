import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.ts';
import { createCarbonAccountant } from '../../src/carbon/create-accountant.ts';
import { lookupZone, worldAverage, zoneForCloudRegion } from '../../src/carbon/zones.ts';
import { carbonConfig, captureLogger, share } from '../support/carbon-helpers.ts';

describe('static intensity table', () => {
  it('looks up country zones by ISO alpha-2, case-insensitively, with year and source', () => {
    expect(lookupZone('DE')).toEqual({ zone: 'DE', name: 'Germany', gramsPerKwh: 380.95, year: 2023, source: 'ember' });
    expect(lookupZone('fr')?.gramsPerKwh).toBe(56.04);
    expect(lookupZone('US')?.gramsPerKwh).toBe(385.98);
  });

  it('looks up grid regions by Electricity Maps zone key', () => {
    expect(lookupZone('US-CAL-CISO')).toEqual({ zone: 'US-CAL-CISO', name: 'California ISO', gramsPerKwh: 229, year: 2024, source: 'electricitymaps' });
  });

  it('has a world average', () => {
    expect(worldAverage()).toEqual({ zone: 'WORLD', name: 'World', gramsPerKwh: 485.99, year: 2022, source: 'ember' });
  });

  it('maps AWS, GCP and Azure regions to zones', () => {
    expect(zoneForCloudRegion('us-east-1')).toBe('US-MIDA-PJM');
    expect(zoneForCloudRegion('aws:eu-central-1')).toBe('DE');
    expect(zoneForCloudRegion('us-central1')).toBe('US-MIDW-MISO');
    expect(zoneForCloudRegion('gcp:europe-west4')).toBe('NL');
    expect(zoneForCloudRegion('westeurope')).toBe('NL');
    expect(zoneForCloudRegion('azure:swedencentral')).toBe('SE');
    expect(zoneForCloudRegion('mars-north-1')).toBeUndefined();
    expect(zoneForCloudRegion('ibm:us-east-1')).toBeUndefined();
  });
});

describe('static accountant', () => {
  const hourShare = share({ startMs: 0, endMs: 3_600_000, energyJoules: 3_600_000, deviceSeconds: 3600 });

  it('CO2e = kWh x PUE x intensity for the zone', () => {
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE', pue: 1.5 }), captureLogger().logger);
    // 1 kWh x 1.5 x 380.95 g/kWh
    expect(accountant.account(hourShare).operationalGrams).toBeCloseTo(571.425, 10);
    expect(accountant.pue).toBe(1.5);
    expect(accountant.intensity(0)).toEqual({
      zone: 'DE',
      source: 'static',
      signal: 'average',
      gramsPerKwh: 380.95,
      ageSeconds: 0,
      state: 'static',
    });
  });

  it('is exact for a 2 s interval of 250 W', () => {
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'FR' }), captureLogger().logger);
    // 500 J = 500/3.6e6 kWh; x 56.04 g/kWh = 0.0077833... g
    expect(accountant.account(share({ energyJoules: 500 })).operationalGrams).toBeCloseTo((500 / 3_600_000) * 56.04, 15);
  });

  it('uses the cloud region zone, and --zone wins over it', () => {
    const viaRegion = createCarbonAccountant(carbonConfig({ cloudRegion: 'us-east-1' }), captureLogger().logger);
    expect(viaRegion.intensity(0)).toMatchObject({ zone: 'US-MIDA-PJM', gramsPerKwh: 403 });
    const both = createCarbonAccountant(carbonConfig({ cloudRegion: 'us-east-1', zone: 'se' }), captureLogger().logger);
    expect(both.intensity(0)).toMatchObject({ zone: 'SE', gramsPerKwh: 40.7 });
  });

  it('--intensity overrides the table', () => {
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE', intensity: 100 }), captureLogger().logger);
    expect(accountant.intensity(0)).toMatchObject({ zone: 'DE', gramsPerKwh: 100, source: 'static' });
    expect(accountant.account(hourShare).operationalGrams).toBe(100);
    const noZone = createCarbonAccountant(carbonConfig({ intensity: 42 }), captureLogger().logger);
    expect(noZone.intensity(0)).toMatchObject({ zone: 'custom', gramsPerKwh: 42 });
  });

  it('falls back to the world average with a warning when no zone is set', () => {
    const log = captureLogger();
    const accountant = createCarbonAccountant(carbonConfig(), log.logger);
    expect(accountant.intensity(0)).toMatchObject({ zone: 'WORLD', gramsPerKwh: 485.99 });
    expect(log.lines().some((line) => line.level === 40 && String(line.msg).includes('world average'))).toBe(true);
  });

  it('rejects an unknown zone or cloud region naming the key', () => {
    expect(() => createCarbonAccountant(carbonConfig({ zone: 'XX' }), captureLogger().logger)).toThrow(ConfigError);
    expect(() => createCarbonAccountant(carbonConfig({ zone: 'XX' }), captureLogger().logger)).toThrow(/^config: zone: 'XX'/);
    expect(() => createCarbonAccountant(carbonConfig({ cloudRegion: 'mars-1' }), captureLogger().logger)).toThrow(/^config: cloudRegion: 'mars-1'/);
  });

  it('a zero-length share still gets the intensity at its instant', () => {
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE' }), captureLogger().logger);
    expect(accountant.account(share({ startMs: 5, endMs: 5, energyJoules: 3_600_000 })).operationalGrams).toBeCloseTo(380.95, 10);
  });
});
