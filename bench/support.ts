// What the benches share: the two-socket RAPL host they measure on, counters that keep moving, and
// a process's resident memory.
import { residentBytes } from '../test/support/daemon-process.ts';
import { createSysfsFixture, type SysfsFixture } from '../test/support/sysfs-fixture.ts';

const RAPL_ZONES = ['intel-rapl:0', 'intel-rapl:0:0', 'intel-rapl:1', 'intel-rapl:1:0'];
/** Microjoules each zone's counter advances per second while `moveEnergy` runs: 50 W on every zone. */
const STEP_MICROJOULES = 50_000_000;

/**
 * The environment the image gives the daemon (Dockerfile `ENV`; the chart's NODE_OPTIONS adds only the
 * heap size, test/helm/chart.test.ts keeps the two equal): the benches measure the agent as deployed.
 */
export const IMAGE_ENV = { NODE_OPTIONS: '--max-semi-space-size=1 --v8-pool-size=1', MALLOC_ARENA_MAX: '2' };

/** Two Intel packages, each with its DRAM sub-zone, counters at 1 J. */
export function twoSocketRaplFixture(): SysfsFixture {
  const fixture = createSysfsFixture();
  fixture.setCpuVendor('GenuineIntel', 2);
  for (const zone of RAPL_ZONES) {
    const [, socket, sub] = zone.split(':');
    fixture.addRaplZone(zone, { name: sub === undefined ? `package-${socket}` : 'dram', energyMicrojoules: 1_000_000 });
  }
  return fixture;
}

/** Advances every zone's counter once a second, so intervals close with energy to split; clear it to stop. */
export function moveEnergy(fixture: SysfsFixture): NodeJS.Timeout {
  let energyMicrojoules = 1_000_000;
  return setInterval(() => {
    energyMicrojoules += STEP_MICROJOULES;
    for (const zone of RAPL_ZONES) fixture.setEnergy(zone, energyMicrojoules);
  }, 1000);
}

/** The resident set of process `pid` (VmRSS), in MiB. */
export function rssMiB(pid: number): number {
  return residentBytes(pid) / 2 ** 20;
}
