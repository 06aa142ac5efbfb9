import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envName, flagName, loadConfig, parseDurationMs, parseSizeBytes } from '../src/config.ts';

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'footprint-config-')), 'footprint.yaml');
  writeFileSync(path, text);
  return path;
}

describe('config', () => {
  it('has the documented defaults', async () => {
    const config = await loadConfig({ env: {} });
    expect([config.listen, config.ingestListen, config.interval, config.hostRoot, config.pue, config.logLevel]).toEqual([
      '0.0.0.0:9464',
      '0.0.0.0:4318',
      2000,
      '/',
      1,
      'info',
    ]);
  });

  it('merges defaults < file < env < flags', async () => {
    const file = yamlFile('interval: 5s\npue: 1.2\nzone: FR\nhostRoot: /from-file\n');
    const config = await loadConfig({ file, env: { FOOTPRINT_PUE: '1.4', FOOTPRINT_HOST_ROOT: '/from-env' }, flags: { hostRoot: '/from-flag' } });
    expect([config.interval, config.pue, config.zone, config.hostRoot]).toEqual([5000, 1.4, 'FR', '/from-flag']);
  });

  it('names the key, the value and what is accepted for a bad value', async () => {
    await expect(loadConfig({ env: {}, flags: { interval: '5x' } })).rejects.toThrow(
      "config: interval: '5x' is invalid: expected a duration like 500ms, 2s, 5m between 100ms and 3600000ms",
    );
    await expect(loadConfig({ env: { FOOTPRINT_PUE: '0.5' } })).rejects.toThrow(/^config: pue: '0.5' is invalid: .*>=1/);
    await expect(loadConfig({ env: {}, flags: { listen: 'nohost' } })).rejects.toThrow(
      "config: listen: 'nohost' is invalid: expected HOST:PORT, e.g. 0.0.0.0:9464",
    );
    await expect(loadConfig({ file: yamlFile('bogus: 1\n'), env: {} })).rejects.toThrow(/^config: unknown key 'bogus'; known keys: listen, /);
    await expect(loadConfig({ file: '/nonexistent.yaml', env: {} })).rejects.toThrow(/^config: --config: cannot read '\/nonexistent.yaml'/);
  });

  it('takes trusted forwarder namespaces as a YAML list or comma-separated, none by default, and names the key of a bad one', async () => {
    expect((await loadConfig({ env: {} })).trustedForwarderNamespaces).toEqual([]);
    expect((await loadConfig({ env: { FOOTPRINT_TRUSTED_FORWARDER_NAMESPACES: 'observability, otel' } })).trustedForwarderNamespaces).toEqual([
      'observability',
      'otel',
    ]);
    expect((await loadConfig({ file: yamlFile('trustedForwarderNamespaces: [observability]\n'), env: {} })).trustedForwarderNamespaces).toEqual([
      'observability',
    ]);
    await expect(loadConfig({ env: {}, flags: { trustedForwarderNamespaces: 'Observability' } })).rejects.toThrow(
      "config: trustedForwarderNamespaces: 'Observability' is invalid: expected Kubernetes namespace names (lower-case DNS labels), comma-separated",
    );
  });

  it('keeps idle claimable for 10 minutes by default and refuses a horizon shorter than the lag', async () => {
    const config = await loadConfig({ env: {} });
    expect([config.attributionLag, config.attributionHorizon]).toEqual([15_000, 600_000]);
    expect((await loadConfig({ env: { FOOTPRINT_ATTRIBUTION_HORIZON: '20s' } })).attributionHorizon).toBe(20_000);
    await expect(loadConfig({ env: {}, flags: { attributionLag: '30s', attributionHorizon: '20s' } })).rejects.toThrow(
      'config: attributionHorizon: 20000ms is invalid: must be at least attributionLag (30000ms), as idle stays claimable only after its interval closes',
    );
  });

  it('exports no trace by default, and names the traces key a bad value or combination is in', async () => {
    const config = await loadConfig({ env: {} });
    expect([config.tracesEndpoint, config.tracesProtocol, config.tracesCompression, config.tracesTimeout, config.tracesQueueSize]).toEqual([
      undefined,
      'http/protobuf',
      'none',
      10_000,
      2048,
    ]);
    const set = await loadConfig({
      env: { FOOTPRINT_TRACES_ENDPOINT: 'http://tempo:4317', FOOTPRINT_TRACES_PROTOCOL: 'grpc', FOOTPRINT_TRACES_HEADERS: 'x-scope-orgid=team-a' },
    });
    expect([set.tracesEndpoint, set.tracesProtocol, set.tracesHeaders]).toEqual(['http://tempo:4317', 'grpc', 'x-scope-orgid=team-a']);
    await expect(loadConfig({ env: {}, flags: { tracesProtocol: 'http/json' } })).rejects.toThrow(/^config: tracesProtocol: 'http\/json' is invalid/);
    await expect(loadConfig({ env: {}, flags: { tracesHeaders: 'no-equals-sign' } })).rejects.toThrow(
      /^config: tracesHeaders: 'no-equals-sign' is invalid: expected key=value pairs/,
    );
    await expect(loadConfig({ env: {}, flags: { tracesEndpoint: 'tempo:4318' } })).rejects.toThrow(/^config: tracesEndpoint: 'tempo:4318' is invalid/);
    await expect(loadConfig({ env: {}, flags: { tracesEndpoint: 'https://tempo/v1/traces', tracesClientKey: '/key.pem' } })).rejects.toThrow(
      /^config: tracesClientCertificate: \(missing\) is invalid: tracesClientCertificate and tracesClientKey go together/,
    );
    await expect(loadConfig({ env: {}, flags: { tracesEndpoint: 'http://tempo/v1/traces', tracesCertificate: '/ca.pem' } })).rejects.toThrow(
      /^config: tracesCertificate: '\/ca.pem' is invalid: TLS files need an https:\/\/ tracesEndpoint/,
    );
  });

  it('publishes pods as series only when asked, and reads request histogram bounds as a list or comma-separated, naming the key when bad', async () => {
    const defaults = await loadConfig({ env: {} });
    expect([defaults.podSeries, defaults.requestDurationBuckets, defaults.requestEnergyBuckets]).toEqual([false, [0.5, 1, 2.5, 10, 30], [5, 50, 500, 5000]]);
    expect((await loadConfig({ env: { FOOTPRINT_REQUEST_DURATION_BUCKETS: '0.1, 1,10' } })).requestDurationBuckets).toEqual([0.1, 1, 10]);
    expect((await loadConfig({ file: yamlFile('requestEnergyBuckets: [1, 1000]\npodSeries: true\n'), env: {} })).requestEnergyBuckets).toEqual([1, 1000]);
    const accepted = 'expected at most 30 increasing positive bucket bounds, like 0.5,1,5';
    await expect(loadConfig({ env: {}, flags: { requestDurationBuckets: '1,0.5' } })).rejects.toThrow(
      `config: requestDurationBuckets: '1,0.5' is invalid: ${accepted}`,
    );
    await expect(loadConfig({ env: {}, flags: { requestEnergyBuckets: '5,x' } })).rejects.toThrow(
      `config: requestEnergyBuckets: '5,x' is invalid: ${accepted}`,
    );
    await expect(loadConfig({ file: yamlFile('requestEnergyBuckets: [0, 1]\n'), env: {} })).rejects.toThrow(
      `config: requestEnergyBuckets: '[0,1]' is invalid: ${accepted}`,
    );
  });

  it('spells env variables and flags from the key', () => {
    expect(envName('hostRoot')).toBe('FOOTPRINT_HOST_ROOT');
    expect(flagName('intensityTokenFile')).toBe('intensity-token-file');
    expect([parseDurationMs('500ms'), parseDurationMs('2s'), parseDurationMs('1.5m'), parseDurationMs('x')]).toEqual([500, 2000, 90_000, undefined]);
  });

  it('reads booleans strictly', async () => {
    expect((await loadConfig({ env: { FOOTPRINT_KUBERNETES: 'false' } })).kubernetes).toBe(false);
    expect((await loadConfig({ env: { FOOTPRINT_KUBERNETES: 'true' } })).kubernetes).toBe(true);
    await expect(loadConfig({ env: { FOOTPRINT_KUBERNETES: 'yes' } })).rejects.toThrow(/^config: kubernetes: 'yes' is invalid/);
  });

  it('reads memoryLimit as a binary size or bytes (the downward API writes bytes), and refuses ambiguous or too small ones naming the key', async () => {
    expect((await loadConfig({ env: {} })).memoryLimit).toBeUndefined();
    expect((await loadConfig({ env: { FOOTPRINT_MEMORY_LIMIT: '536870912' } })).memoryLimit).toBe(512 * 2 ** 20);
    expect((await loadConfig({ env: {}, flags: { memoryLimit: '256MiB' } })).memoryLimit).toBe(256 * 2 ** 20);
    expect((await loadConfig({ file: yamlFile('memoryLimit: 1.5Gi\n'), env: {} })).memoryLimit).toBe(1.5 * 2 ** 30);
    expect([parseSizeBytes('256Mi'), parseSizeBytes('64 KiB'), parseSizeBytes('100B'), parseSizeBytes('256M'), parseSizeBytes('-1Mi')]).toEqual([
      256 * 2 ** 20,
      64 * 1024,
      100,
      undefined,
      undefined,
    ]);
    const accepted = 'expected a size like 256Mi, 256MiB, 1Gi or a number of bytes, between 128 MiB and 1024 GiB';
    await expect(loadConfig({ env: { FOOTPRINT_MEMORY_LIMIT: '256M' } })).rejects.toThrow(`config: memoryLimit: '256M' is invalid: ${accepted}`);
    await expect(loadConfig({ env: {}, flags: { memoryLimit: '64Mi' } })).rejects.toThrow(`config: memoryLimit: '64Mi' is invalid: ${accepted}`);
  });
});
