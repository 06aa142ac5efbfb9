// scripts/gpu-check.sh against the NVML double: footprint reads the double, a fake nvidia-smi on PATH
// answers from the same script (test/support/fake-nvidia-smi.mjs), and the check's table and exit
// code follow from the scripted values.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeUuid, nvmlDouble, type NvmlDouble } from '../support/nvml-double.ts';
import { freePort } from '../support/prom-server.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/gpu-check.sh', import.meta.url));
const FAKE_SMI = fileURLToPath(new URL('../support/fake-nvidia-smi.mjs', import.meta.url));

describe('scripts/gpu-check.sh', () => {
  let fixture: SysfsFixture;
  let double: NvmlDouble;
  let binDir: string;

  beforeAll(() => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel');
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    fixture.setMemTotal(8 * 1024 * 1024);
    binDir = mkdtempSync(join(tmpdir(), 'fake-smi-'));
    writeFileSync(join(binDir, 'nvidia-smi'), `#!/bin/sh\nexec "${process.execPath}" "${FAKE_SMI}" "$@"\n`);
    chmodSync(join(binDir, 'nvidia-smi'), 0o755);
  });

  afterAll(() => {
    fixture?.remove();
    rmSync(binDir, { recursive: true, force: true });
  });

  /** Runs the check over a 3 s window sampled every second; each sample moves board i on by 300 J x (i + 1). */
  async function check(extraEnv: Record<string, string> = {}) {
    // Two H100s at 300 W with 5 MJ on their counters (about five hours since the driver loaded).
    double = nvmlDouble({
      gpus: [0, 1].map((index) => ({
        uuid: fakeUuid(index),
        name: 'NVIDIA H100 80GB HBM3',
        energyMillijoules: 5_000_000_000,
        powerMilliwatts: 300_000,
        enforcedLimitMilliwatts: 700_000,
      })),
    });
    const env = {
      ...process.env,
      ...double.env,
      PATH: `${binDir}:${process.env.PATH}`,
      GPU_CHECK_WINDOW_S: '3',
      GPU_CHECK_SAMPLE_S: '1',
      GPU_CHECK_PORT: String(await freePort()),
      FAKE_SMI_STEP_MJ: '300000',
      ...extraEnv,
    };
    const child = spawn('bash', [SCRIPT, '--host-root', fixture.root, '--nvml-library', double.libraryPath], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const rows = Object.fromEntries(
      stdout
        .split('\n')
        .filter((line) => line.startsWith('GPU-'))
        .map((line) => line.trim().split(/\s+/))
        .map(([id, ...columns]) => [id!, columns]),
    );
    return { code, stdout, stderr, rows };
  }

  it('passes when footprint and nvidia-smi agree, with the exact per-GPU figures in its table', async () => {
    const { code, stdout, stderr, rows } = await check();
    expect(stderr).toBe('');
    expect(stdout).toContain('== footprint doctor');
    expect(code).toBe(0);
    // fp W, smi W, dW, fp J, smi J, dJ, result: three samples moved board 0 by 900 J and board 1 by 1,800 J.
    expect(rows).toEqual({
      [fakeUuid(0)]: ['300.00', '300.00', '0.00%', '900.000', '900.000', '0.000%', 'ok'],
      [fakeUuid(1)]: ['300.00', '300.00', '0.00%', '1800.000', '1800.000', '0.000%', 'ok'],
    });
  }, 90_000);

  it('exits 1 and marks the GPU when power differs by more than 5%', async () => {
    const { code, rows, stderr } = await check({ FAKE_SMI_POWER_SCALE: '1.1' });
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(rows[fakeUuid(0)]).toEqual(['300.00', '330.00', '-9.09%', '900.000', '900.000', '0.000%', 'MISS']);
  }, 90_000);

  it('exits 2 with one line when nvidia-smi is missing', async () => {
    const child = spawn('bash', [SCRIPT], { env: { ...process.env, PATH: '/usr/bin:/bin' } });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(2);
    expect(stderr).toBe('gpu-check: nvidia-smi not found: run this on a machine with an NVIDIA GPU and its driver\n');
  });
});
