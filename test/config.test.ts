import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envName, flagName, loadConfig, parseDurationMs } from '../src/config.ts';

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'footprint-config-')), 'footprint.yaml');
  writeFileSync(path, text);
  return path;
}

describe('config', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({ env: {} });
    expect([config.listen, config.ingestListen, config.interval, config.hostRoot, config.pue, config.logLevel]).toEqual([
      '0.0.0.0:9464',
      '0.0.0.0:4318',
      2000,
      '/',
      1,
      'info',
    ]);
  });

  it('merges defaults < file < env < flags', () => {
    const file = yamlFile('interval: 5s\npue: 1.2\nzone: FR\nhostRoot: /from-file\n');
    const config = loadConfig({ file, env: { FOOTPRINT_PUE: '1.4', FOOTPRINT_HOST_ROOT: '/from-env' }, flags: { hostRoot: '/from-flag' } });
    expect([config.interval, config.pue, config.zone, config.hostRoot]).toEqual([5000, 1.4, 'FR', '/from-flag']);
  });

  it('names the key, the value and what is accepted for a bad value', () => {
    expect(() => loadConfig({ env: {}, flags: { interval: '5x' } })).toThrow(
      "config: interval: '5x' is invalid: expected a duration like 500ms, 2s, 5m between 100ms and 3600000ms",
    );
    expect(() => loadConfig({ env: { FOOTPRINT_PUE: '0.5' } })).toThrow(/^config: pue: '0.5' is invalid: .*>=1/);
    expect(() => loadConfig({ env: {}, flags: { listen: 'nohost' } })).toThrow("config: listen: 'nohost' is invalid: expected HOST:PORT, e.g. 0.0.0.0:9464");
    expect(() => loadConfig({ file: yamlFile('bogus: 1\n'), env: {} })).toThrow(/^config: unknown key 'bogus'; known keys: listen, /);
    expect(() => loadConfig({ file: '/nonexistent.yaml', env: {} })).toThrow(/^config: --config: cannot read '\/nonexistent.yaml'/);
  });

  it('keeps idle claimable for 10 minutes by default and refuses a horizon shorter than the lag', () => {
    const config = loadConfig({ env: {} });
    expect([config.attributionLag, config.attributionHorizon]).toEqual([15_000, 600_000]);
    expect(loadConfig({ env: { FOOTPRINT_ATTRIBUTION_HORIZON: '20s' } }).attributionHorizon).toBe(20_000);
    expect(() => loadConfig({ env: {}, flags: { attributionLag: '30s', attributionHorizon: '20s' } })).toThrow(
      'config: attributionHorizon: 20000ms is invalid: must be at least attributionLag (30000ms), as idle stays claimable only after its interval closes',
    );
  });

  it('spells env variables and flags from the key', () => {
    expect(envName('hostRoot')).toBe('FOOTPRINT_HOST_ROOT');
    expect(flagName('intensityTokenFile')).toBe('intensity-token-file');
    expect([parseDurationMs('500ms'), parseDurationMs('2s'), parseDurationMs('1.5m'), parseDurationMs('x')]).toEqual([500, 2000, 90_000, undefined]);
  });

  it('reads booleans strictly', () => {
    expect(loadConfig({ env: { FOOTPRINT_KUBERNETES: 'false' } }).kubernetes).toBe(false);
    expect(loadConfig({ env: { FOOTPRINT_KUBERNETES: 'true' } }).kubernetes).toBe(true);
    expect(() => loadConfig({ env: { FOOTPRINT_KUBERNETES: 'yes' } })).toThrow(/^config: kubernetes: 'yes' is invalid/);
  });
});
