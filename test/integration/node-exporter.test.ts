// Peer cross-check: footprint and Debian's node_exporter read the same RAPL fixture tree.
// Before a wrap both report the same per-package joules; across it footprint stays monotonic
// while node_exporter's counter drops back (it exports the raw energy_uj in joules).
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/prom-server.ts';
import { DEFAULT_MAX_ENERGY_RANGE_UJ } from '../support/sysfs-fixture.ts';
import { sampleValue } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { daemonSuite } from '../support/suite.ts';

const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';

function nodeExporterMissing(): boolean {
  try {
    accessSync(NODE_EXPORTER, constants.X_OK);
    return false;
  } catch {
    if (process.env.CI === 'true') throw new Error(`${NODE_EXPORTER} not found: apt-get install prometheus-node-exporter`);
    return true;
  }
}

describe.skipIf(nodeExporterMissing())('cross-check against node_exporter --collector.rapl', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 5_000_000_000 });
      fixture.addRaplZone('intel-rapl:1', { name: 'package-1', energyMicrojoules: DEFAULT_MAX_ENERGY_RANGE_UJ - 40_000_000 });
    },
  });
  let exporter: ChildProcess;
  let exporterUrl: string;

  // node_exporter reads the suite's tree; it starts after the daemon and stops before it.
  beforeAll(async () => {
    const port = await freePort();
    exporterUrl = `http://127.0.0.1:${port}/metrics`;
    exporter = spawn(
      NODE_EXPORTER,
      [`--path.sysfs=${suite.fixture.path('sys')}`, '--collector.disable-defaults', '--collector.rapl', `--web.listen-address=127.0.0.1:${port}`],
      { stdio: 'ignore' },
    );
  });

  afterAll(() => {
    exporter?.kill('SIGTERM');
  });

  const nodeJoules = async (index: string) => sampleValue(await (await fetch(exporterUrl)).text(), 'node_rapl_package_joules_total', { index });
  const footprintJoules = async (hwId: string) => sampleValue(await suite.daemon.scrape(), 'hw_energy_joules_total', { hw_id: hwId });
  const settle = () => sleep(700);

  it('agrees on per-package joules before a wrap and stays monotonic across it', async () => {
    const { fixture } = suite;
    const node0Before = await eventually(() => nodeJoules('0'), 10_000, 'node_exporter up');
    const node1Before = (await nodeJoules('1'))!;
    await settle();
    const ours0Before = (await footprintJoules('rapl:package-0'))!;
    const ours1Before = (await footprintJoules('rapl:package-1'))!;

    fixture.setEnergy('intel-rapl:0', 5_000_000_000 + 123_456_789);
    fixture.setEnergy('intel-rapl:1', DEFAULT_MAX_ENERGY_RANGE_UJ - 10_000_000);
    await settle();
    expect((await nodeJoules('0'))! - node0Before).toBeCloseTo(123.456789, 9);
    expect((await footprintJoules('rapl:package-0'))! - ours0Before).toBeCloseTo(123.456789, 9);
    expect((await nodeJoules('1'))! - node1Before).toBeCloseTo(30, 9);
    expect((await footprintJoules('rapl:package-1'))! - ours1Before).toBeCloseTo(30, 9);

    // Package 1 wraps: 10 J to the top of the range, then 25 J after it.
    fixture.setEnergy('intel-rapl:1', 25_000_000);
    await settle();
    expect(await nodeJoules('1')).toBe(25);
    expect((await footprintJoules('rapl:package-1'))! - ours1Before).toBeCloseTo(65, 9);
  });
});
