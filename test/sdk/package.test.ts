// The SDK as a consumer gets it: `npm pack` of packages/sdk, installed into a fresh project (its two
// OpenTelemetry dependencies from the local npm cache, the registry only as a fallback), imported from
// a plain .mjs file on Node 20, holding a window open with the real daemon running on a RAPL fixture.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleValue, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const REPO_ROOT = new URL('../../', import.meta.url).pathname;

// Enters withWorkload, says "open", and leaves when the test writes a line.
const CONSUMER = `import { createInterface } from 'node:readline';
import { withWorkload } from '@footprint/sdk';

const [ingestUrl] = process.argv.slice(2);
await withWorkload({ model: 'packed-sdk', job: 'pack-test', phase: 'training' }, async () => {
  process.stdout.write('open\\n');
  await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
}, { ingestUrl, hwIds: ['rapl:package-0'], onError: (error) => { console.error(error); process.exit(3); } });
process.stdout.write('closed\\n');
`;

describe('@footprint/sdk from a packed tarball', () => {
  let project: string;
  let fixture: SysfsFixture;
  let daemon: TestDaemon;

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'footprint-sdk-consumer-'));
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--workspace', 'packages/sdk', '--pack-destination', project], { cwd: REPO_ROOT, encoding: 'utf8' }),
    ) as Array<{ filename: string }>;
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(join(project, 'consumer.mjs'), CONSUMER);
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(project, packed[0]!.filename)], { cwd: project, stdio: 'ignore' });
  }, 180_000);

  afterAll(async () => {
    await daemon?.close();
    fixture?.remove();
    rmSync(project, { recursive: true, force: true });
  });

  it('installs without the daemon’s dependencies', () => {
    const installed = readdirSync(join(project, 'node_modules'), { recursive: true, encoding: 'utf8' }).filter((path) => path.split('/').length <= 2);
    expect(installed).toContain('@footprint/sdk');
    expect(installed).toContain('@opentelemetry/api');
    for (const heavy of ['koffi', '@grpc', '@kubernetes', 'vega', 'vega-lite', 'protobufjs', 'tsx']) expect(installed).not.toContain(heavy);
  });

  it('holds a window from plain JavaScript: the joules spent inside it go to its model', async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 1);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    daemon = await startTestDaemon({ hostRoot: fixture.root, zone: 'DE' });
    await eventually(async () => sampleValue(await daemon.scrape(), 'hw_energy_joules_total', { hw_id: 'rapl:package-0' }), 10_000, 'first reading');

    const consumer = spawn(process.execPath, ['consumer.mjs', daemon.ingestUrl], { cwd: project, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: consumer.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('open');
    // Past one 200 ms sample after the window opened, so the interval that sees the 10 J lies inside it.
    await sleep(500);
    fixture.setEnergy('intel-rapl:0', 11_000_000);
    await eventually(
      async () =>
        sampleValue(await daemon.scrape(), 'ml_energy_joules_total', {
          hw_id: 'rapl:package-0',
          ml_model: 'packed-sdk',
          ml_job: 'pack-test',
          ml_phase: 'training',
        }) === 10
          ? true
          : undefined,
      10_000,
      '10 J attributed to packed-sdk',
    );

    consumer.stdin!.end('done\n');
    expect((await lines.next()).value).toBe('closed');
    expect(await new Promise((resolve) => consumer.once('exit', resolve))).toBe(0);
  }, 60_000);
});
