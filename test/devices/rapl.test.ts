import { afterEach, describe, expect, it } from 'vitest';
import { counterDelta } from '../../src/energy/counter.ts';
import { RAPL_PERMISSION_FIX, RaplSource } from '../../src/devices/rapl.ts';
import { createSysfsFixture, DEFAULT_MAX_ENERGY_RANGE_UJ, type SysfsFixture } from '../support/sysfs-fixture.ts';

let fixture: SysfsFixture;
afterEach(() => fixture?.remove());

/** A two-socket server: each package with a dram sub-zone, package-0 also with a core sub-zone. */
function twoSocketServer(options: { psys: boolean }): SysfsFixture {
  const tree = createSysfsFixture();
  tree.setCpuVendor('GenuineIntel', 2);
  tree.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000, powerLimitMicrowatts: 205_000_000 });
  tree.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 200_000, maxEnergyRangeMicrojoules: 65_712_999_613 });
  tree.addRaplZone('intel-rapl:0:1', { name: 'core', energyMicrojoules: 600_000 });
  tree.addRaplZone('intel-rapl:1', { name: 'package-1', energyMicrojoules: 2_000_000, maxPowerMicrowatts: 250_000_000 });
  tree.addRaplZone('intel-rapl:1:0', { name: 'dram', energyMicrojoules: 300_000, maxEnergyRangeMicrojoules: 65_712_999_613 });
  if (options.psys) tree.addRaplZone('intel-rapl:2', { name: 'psys', energyMicrojoules: 5_000_000 });
  return tree;
}

const packageZone = 'sys/class/powercap/intel-rapl:1/energy_uj';

describe('RaplSource discovery', () => {
  it('finds packages, their sub-zones and psys with stable ids, types and host roles', async () => {
    fixture = twoSocketServer({ psys: true });
    const { devices, problems } = await new RaplSource({ hostRoot: fixture.root }).discover();
    expect(problems).toEqual([]);
    expect(
      devices.map(({ id, type, name, vendor, method, hostRole, parentId, powerLimitWatts }) => ({
        id,
        type,
        name,
        vendor,
        method,
        hostRole,
        parentId,
        powerLimitWatts,
      })),
    ).toEqual([
      { id: 'rapl:package-0', type: 'cpu', name: 'package-0', vendor: 'intel', method: 'counter', hostRole: 'part', parentId: undefined, powerLimitWatts: 205 },
      {
        id: 'rapl:package-0:dram',
        type: 'memory',
        name: 'dram',
        vendor: 'intel',
        method: 'counter',
        hostRole: 'part',
        parentId: 'rapl:package-0',
        powerLimitWatts: undefined,
      },
      {
        id: 'rapl:package-0:core',
        type: 'cpu-core',
        name: 'core',
        vendor: 'intel',
        method: 'counter',
        hostRole: 'sub',
        parentId: 'rapl:package-0',
        powerLimitWatts: undefined,
      },
      { id: 'rapl:package-1', type: 'cpu', name: 'package-1', vendor: 'intel', method: 'counter', hostRole: 'part', parentId: undefined, powerLimitWatts: 250 },
      {
        id: 'rapl:package-1:dram',
        type: 'memory',
        name: 'dram',
        vendor: 'intel',
        method: 'counter',
        hostRole: 'part',
        parentId: 'rapl:package-1',
        powerLimitWatts: undefined,
      },
      {
        id: 'rapl:psys',
        type: 'platform',
        name: 'psys',
        vendor: 'intel',
        method: 'counter',
        hostRole: 'whole',
        parentId: undefined,
        powerLimitWatts: undefined,
      },
    ]);
    expect(devices[1]!.info).toEqual({ path: 'sys/class/powercap/intel-rapl:0:0', maxEnergyRangeMicrojoules: '65712999613' });
  });

  it('without psys has no whole-platform zone: packages and dram are the disjoint parts', async () => {
    fixture = twoSocketServer({ psys: false });
    const { devices } = await new RaplSource({ hostRoot: fixture.root }).discover();
    expect(devices.filter((device) => device.hostRole === 'whole')).toEqual([]);
    expect(devices.filter((device) => device.hostRole === 'part').map((device) => device.id)).toEqual([
      'rapl:package-0',
      'rapl:package-0:dram',
      'rapl:package-1',
      'rapl:package-1:dram',
    ]);
  });

  it('takes the vendor from /proc/cpuinfo (AMD uses the same intel-rapl zones) and says unknown without it', async () => {
    fixture = createSysfsFixture();
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1 });
    expect((await new RaplSource({ hostRoot: fixture.root }).discover()).devices[0]!.vendor).toBe('unknown');
    fixture.setCpuVendor('AuthenticAMD');
    expect((await new RaplSource({ hostRoot: fixture.root }).discover()).devices[0]!.vendor).toBe('amd');
  });

  it('keeps ids unique when firmware repeats a zone name, ignoring the control-type and mmio directories', async () => {
    fixture = createSysfsFixture();
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1 });
    fixture.addRaplZone('intel-rapl:1', { name: 'package-0', energyMicrojoules: 2 });
    fixture.addRaplZone('intel-rapl:1:0', { name: 'dram', energyMicrojoules: 3 });
    fixture.writeFile('sys/class/powercap/intel-rapl-mmio:0/name', 'package-0');
    fixture.writeFile('sys/class/powercap/intel-rapl-mmio:0/energy_uj', 4);
    const { devices } = await new RaplSource({ hostRoot: fixture.root }).discover();
    expect(devices.map((device) => device.id)).toEqual(['rapl:package-0@0', 'rapl:package-0@1', 'rapl:package-0:dram']);
  });

  it('reports a missing powercap tree as a problem with the fix, and reads nothing', async () => {
    fixture = createSysfsFixture();
    const source = new RaplSource({ hostRoot: fixture.root });
    const { devices, problems } = await source.discover();
    expect(devices).toEqual([]);
    expect(problems).toEqual([
      expect.objectContaining({
        source: 'rapl',
        message: `no RAPL zones under ${fixture.root}/sys/class/powercap`,
        fix: expect.stringContaining('modprobe intel_rapl_msr'),
      }),
    ]);
    expect(await source.read(1000)).toEqual({ readings: [], failures: [] });
  });

  it('leaves out a zone whose energy_uj is root-only (EACCES), once, with the fix; the other zones stay', async () => {
    fixture = twoSocketServer({ psys: false });
    fixture.makeUnreadable(packageZone);
    const { devices, problems } = await new RaplSource({ hostRoot: fixture.root, reader: fixture.reader }).discover();
    expect(devices.map((device) => device.id)).toEqual(['rapl:package-0', 'rapl:package-0:dram', 'rapl:package-0:core', 'rapl:package-1:dram']);
    expect(problems).toEqual([
      {
        source: 'rapl',
        message: `RAPL zone package-1 (intel-rapl:1) left out: ${fixture.path(packageZone)}: permission denied`,
        fix: RAPL_PERMISSION_FIX,
      },
    ]);
    expect(RAPL_PERMISSION_FIX).toMatch(/root.*CVE-2020-8694.*udev.*rapl\.enabled/s);
  });
});

describe('RaplSource readings', () => {
  it('returns raw microjoule counters with unitJoules 1e-6 and wrapAt = max_energy_range_uj', async () => {
    fixture = twoSocketServer({ psys: true });
    const source = new RaplSource({ hostRoot: fixture.root });
    await source.discover();
    const { readings, failures } = await source.read(2000);
    expect(failures).toEqual([]);
    expect(readings).toEqual([
      { kind: 'counter', deviceId: 'rapl:package-0', timeMs: 2000, value: 1_000_000, unitJoules: 1e-6, wrapAt: DEFAULT_MAX_ENERGY_RANGE_UJ },
      { kind: 'counter', deviceId: 'rapl:package-0:dram', timeMs: 2000, value: 200_000, unitJoules: 1e-6, wrapAt: 65_712_999_613 },
      { kind: 'counter', deviceId: 'rapl:package-0:core', timeMs: 2000, value: 600_000, unitJoules: 1e-6, wrapAt: DEFAULT_MAX_ENERGY_RANGE_UJ },
      { kind: 'counter', deviceId: 'rapl:package-1', timeMs: 2000, value: 2_000_000, unitJoules: 1e-6, wrapAt: DEFAULT_MAX_ENERGY_RANGE_UJ },
      { kind: 'counter', deviceId: 'rapl:package-1:dram', timeMs: 2000, value: 300_000, unitJoules: 1e-6, wrapAt: 65_712_999_613 },
      { kind: 'counter', deviceId: 'rapl:psys', timeMs: 2000, value: 5_000_000, unitJoules: 1e-6, wrapAt: DEFAULT_MAX_ENERGY_RANGE_UJ },
    ]);
  });

  it('passes a wrap through as raw values; the wrapAt it carries lets the energy stage recover the true delta', async () => {
    fixture = createSysfsFixture();
    const wrapAt = 1_000_000;
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 400_000, maxEnergyRangeMicrojoules: wrapAt });
    const source = new RaplSource({ hostRoot: fixture.root });
    await source.discover();
    const values: number[] = [];
    for (const [index, microjoules] of [400_000, 900_000, 150_000, 650_000].entries()) {
      fixture.setEnergy('intel-rapl:0', microjoules);
      const [reading] = (await source.read(index * 2000)).readings;
      expect(reading).toMatchObject({ kind: 'counter', deviceId: 'rapl:package-0', wrapAt });
      values.push((reading as { value: number }).value);
    }
    expect(values).toEqual([400_000, 900_000, 150_000, 650_000]);
    // What the energy stage makes of them: the wrap is recovered from the wrapAt the readings carry.
    const deltas = values.slice(1).map((value, index) => counterDelta(values[index]!, value, Number.MAX_SAFE_INTEGER, wrapAt));
    expect(deltas).toEqual([
      { deltaUnits: 500_000, event: 'advance' },
      { deltaUnits: 250_000, event: 'wrap' },
      { deltaUnits: 500_000, event: 'advance' },
    ]);
  });

  it('reports a zone that becomes unreadable as a failure on every read while the others keep reading, and reads it again once it is back', async () => {
    fixture = twoSocketServer({ psys: false });
    const source = new RaplSource({ hostRoot: fixture.root, reader: fixture.reader });
    await source.discover();

    fixture.makeUnreadable(packageZone);
    for (const nowMs of [2000, 4000]) {
      const { readings, failures } = await source.read(nowMs);
      expect(readings.map((reading) => reading.deviceId)).toEqual(['rapl:package-0', 'rapl:package-0:dram', 'rapl:package-0:core', 'rapl:package-1:dram']);
      expect(failures).toEqual([
        { deviceId: 'rapl:package-1', errorType: 'permission_denied', message: `${fixture.path(packageZone)}: permission denied`, fix: RAPL_PERMISSION_FIX },
      ]);
    }

    fixture.makeReadable(packageZone);
    fixture.setEnergy('intel-rapl:1', 2_500_000);
    const back = await source.read(6000);
    expect(back.failures).toEqual([]);
    expect(back.readings.find((reading) => reading.deviceId === 'rapl:package-1')).toMatchObject({ value: 2_500_000 });
  });

  it('classifies a vanished counter as not_found and a garbled one as invalid_value', async () => {
    fixture = twoSocketServer({ psys: false });
    const source = new RaplSource({ hostRoot: fixture.root });
    await source.discover();
    fixture.removeFile(packageZone);
    fixture.writeFile('sys/class/powercap/intel-rapl:0/energy_uj', 'garbage');
    const { failures } = await source.read(2000);
    expect(failures.map(({ deviceId, errorType }) => ({ deviceId, errorType }))).toEqual([
      { deviceId: 'rapl:package-0', errorType: 'invalid_value' },
      { deviceId: 'rapl:package-1', errorType: 'not_found' },
    ]);
  });
});
