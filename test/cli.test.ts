// The CLI as a user runs it: a separate process through bin/footprint.js.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, flagName, STRUCTURED_KEYS } from '../src/config.ts';
import { ANY_PORT_LISTEN_FLAGS, FOOTPRINT_BIN, spawnDaemon } from './support/daemon-process.ts';
import { eventually } from './support/eventually.ts';
import { createSysfsFixture, type SysfsFixture } from './support/sysfs-fixture.ts';

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [FOOTPRINT_BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
}

describe('footprint CLI', () => {
  let fixture: SysfsFixture;

  beforeAll(() => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('AuthenticAMD', 2);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    fixture.setMemTotal(16 * 1024 * 1024);
    fixture.setCpuTimes([
      { user: 100, system: 50, idle: 850 },
      { user: 100, system: 50, idle: 850 },
    ]);
  });
  afterAll(() => fixture.remove());

  it('prints its version and help for each command', () => {
    expect(run(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(run(['start', '--help']).stdout).toContain('--host-root <DIR>');
    expect(run(['doctor', '--help']).stdout).toContain('--nvml-library <PATH>');
    // Every scalar config key is a flag named after it.
    const help = run(['start', '--help']).stdout;
    const missing = CONFIG_KEYS.filter((key) => !STRUCTURED_KEYS.has(key) && !help.includes(`--${flagName(key)} <`));
    expect(missing).toEqual([]);
  });

  it('rejects a bad value with one line naming the key and exits 2', () => {
    const result = run(['start', '--interval', 'fast']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe("footprint: config: interval: 'fast' is invalid: expected a duration like 500ms, 2s, 5m between 100ms and 3600000ms\n");
    const fromEnv = run(['doctor'], { FOOTPRINT_PUE: 'high' });
    expect(fromEnv.status).toBe(2);
    expect(fromEnv.stderr).toMatch(/^footprint: config: pue: 'high' is invalid/);
    const tokenFile = run(['start', '--ingest-token-file', '/nonexistent/token', ...ANY_PORT_LISTEN_FLAGS, '--log-level', 'silent']);
    expect(tokenFile.status).toBe(2);
    expect(tokenFile.stderr).toMatch(/^footprint: config: ingestTokenFile: cannot read '\/nonexistent\/token': ENOENT/);
  });

  it('doctor lists the measured package and the estimated memory, exit 0', () => {
    const result = run(['doctor', '--host-root', fixture.root, '--nvml-library', '/nonexistent/libnvidia-ml.so.1']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/rapl:package-0\s+cpu\s+amd\s+counter\s+part/);
    expect(result.stdout).toMatch(/estimator:memory\s+memory\s+footprint\s+model/);
    expect(result.stdout).toContain('Estimated, not measured: estimator:memory');
    // systeminformation reads this machine, not the fixture: the inventory is the documented assumption, stated.
    expect(result.stdout).toContain(
      `Inventory (for embodied emissions):\n  system: unknown\n  cpu: unknown, ? socket(s), ? physical core(s)\n  memory: DIMMs unknown\n  assumed: not read (the host root is ${fixture.root}, and systeminformation reads this machine's /); embodied cpu and memory use the documented assumption (24 cores per package, 6 x 32 GB per memory domain)\n`,
    );
  });

  it('starts, logs what it found, serves /metrics and exits 0 on SIGTERM within 5 s', async () => {
    const daemon = await spawnDaemon({ hostRoot: fixture.root, logLevel: 'info', flags: ['--interval', '200ms'] });
    const summary = await eventually(
      () => {
        const line = daemon
          .output()
          .split('\n')
          .find((entry) => entry.includes('"metrics"'));
        return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
      },
      20_000,
      'the start-up line',
    );
    expect(summary.msg).toMatch(/^measuring 1 device\(s\): rapl:package-0 \(counter\); ESTIMATED from load \(measurement.method="model"\): memory/);
    expect(summary.metrics).toBe(`127.0.0.1:${daemon.metricsPort}`);
    const exposition = await (await fetch(`${daemon.metricsUrl}/metrics`)).text();
    expect(exposition).toContain(
      'hw_energy_joules_total{hw_id="estimator:memory",hw_type="memory",hw_name="estimated memory",hw_vendor="footprint",measurement_method="model"}',
    );
    const stoppedAt = Date.now();
    expect(await daemon.stop()).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
  });
});
