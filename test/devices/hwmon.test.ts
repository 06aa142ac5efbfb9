import { afterEach, describe, expect, it } from 'vitest';
import { HWMON_PERMISSION_FIX, HwmonSource } from '../../src/devices/hwmon.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

let fixture: SysfsFixture;
afterEach(() => fixture?.remove());

/** A wall meter (power only), AMD per-core/socket energy counters, an INA238 rail with both, and chips that are not ours. */
function mixedChips(): SysfsFixture {
  const tree = createSysfsFixture();
  tree.addHwmon('hwmon0', { name: 'k10temp', device: '0000:00:18.3', files: { temp1_input: 45_000 } });
  tree.addHwmon('hwmon1', {
    name: 'acpi_power_meter',
    device: 'ACPI000D:00',
    files: { power1_average: 125_000_000, power1_cap: 500_000_000, power1_average_interval: 1000 },
  });
  tree.addHwmon('hwmon2', {
    name: 'amd_energy',
    device: 'amd_energy.0',
    files: { energy1_input: 7_000_000, energy1_label: 'Ecore000', energy17_input: 90_000_000, energy17_label: 'Esocket0' },
  });
  tree.addHwmon('hwmon3', { name: 'ina238', files: { power1_input: 12_250_000, energy1_input: 3_000_000 } });
  tree.addHwmon('hwmon4', { name: 'amdgpu', device: '0000:03:00.0', files: { power1_average: 80_000_000 } });
  return tree;
}

describe('HwmonSource discovery', () => {
  it('finds power and energy sensors with ids from chip, device link and sensor, skipping amdgpu and temperature-only chips', async () => {
    fixture = mixedChips();
    const { devices, problems } = await new HwmonSource({ hostRoot: fixture.root }).discover();
    expect(problems).toEqual([]);
    expect(
      devices.map(({ id, type, name, vendor, method, hostRole, powerLimitWatts }) => ({ id, type, name, vendor, method, hostRole, powerLimitWatts })),
    ).toEqual([
      {
        id: 'hwmon:acpi_power_meter@ACPI000D:00:power1',
        type: 'platform',
        name: 'acpi_power_meter power1',
        vendor: 'unknown',
        method: 'power',
        hostRole: 'sub',
        powerLimitWatts: 500,
      },
      {
        id: 'hwmon:amd_energy@amd_energy.0:energy1',
        type: 'cpu-core',
        name: 'amd_energy Ecore000',
        vendor: 'amd',
        method: 'counter',
        hostRole: 'sub',
        powerLimitWatts: undefined,
      },
      {
        id: 'hwmon:amd_energy@amd_energy.0:energy17',
        type: 'cpu',
        name: 'amd_energy Esocket0',
        vendor: 'amd',
        method: 'counter',
        hostRole: 'sub',
        powerLimitWatts: undefined,
      },
      // No device link: the hwmon index is the only handle. Its power1 and energy1 are one rail, so one device.
      {
        id: 'hwmon:ina238@hwmon3:energy1',
        type: 'other',
        name: 'ina238 energy1',
        vendor: 'ti',
        method: 'counter',
        hostRole: 'sub',
        powerLimitWatts: undefined,
      },
    ]);
    expect(devices[0]!.info).toEqual({ path: 'sys/class/hwmon/hwmon1', chip: 'acpi_power_meter' });
  });

  it('prefers powerN_average over powerN_input when a chip has both', async () => {
    fixture = createSysfsFixture();
    fixture.addHwmon('hwmon0', { name: 'power_meter', files: { power1_input: 99_000_000, power1_average: 101_500_000 } });
    const source = new HwmonSource({ hostRoot: fixture.root });
    expect((await source.discover()).devices.map((device) => device.id)).toEqual(['hwmon:power_meter@hwmon0:power1']);
    expect((await source.read(0)).readings).toEqual([{ kind: 'power', deviceId: 'hwmon:power_meter@hwmon0:power1', timeMs: 0, watts: 101.5 }]);
  });

  it('refines the chip type from labels: zenpower core and SoC rails', async () => {
    fixture = createSysfsFixture();
    fixture.addHwmon('hwmon0', {
      name: 'zenpower',
      device: '0000:00:18.3',
      files: { power1_input: 45_000_000, power1_label: 'SVI2_P_Core', power2_input: 15_000_000, power2_label: 'SVI2_P_SoC' },
    });
    const { devices } = await new HwmonSource({ hostRoot: fixture.root }).discover();
    expect(devices.map(({ id, type, vendor }) => `${id} ${type} ${vendor}`)).toEqual([
      'hwmon:zenpower@0000:00:18.3:power1 cpu-core amd',
      'hwmon:zenpower@0000:00:18.3:power2 uncore amd',
    ]);
  });

  it('has nothing, and no problem, on a machine without hwmon', async () => {
    fixture = createSysfsFixture();
    expect(await new HwmonSource({ hostRoot: fixture.root }).discover()).toEqual({ devices: [], problems: [] });
  });

  it("leaves out a root-only energy file (EACCES) with the fix, keeping the chip's other sensors", async () => {
    fixture = mixedChips();
    const socketFile = 'sys/class/hwmon/hwmon2/energy17_input';
    fixture.makeUnreadable(socketFile);
    const { devices, problems } = await new HwmonSource({ hostRoot: fixture.root, reader: fixture.reader }).discover();
    expect(devices.map((device) => device.id)).toEqual([
      'hwmon:acpi_power_meter@ACPI000D:00:power1',
      'hwmon:amd_energy@amd_energy.0:energy1',
      'hwmon:ina238@hwmon3:energy1',
    ]);
    expect(problems).toEqual([
      { source: 'hwmon', message: `hwmon sensor left out: ${fixture.path(socketFile)}: permission denied`, fix: HWMON_PERMISSION_FIX },
    ]);
  });
});

describe('HwmonSource readings', () => {
  it('reads microwatts as watts and microjoule counters without a wrap, rewritten between samples', async () => {
    fixture = mixedChips();
    const source = new HwmonSource({ hostRoot: fixture.root });
    await source.discover();
    expect(await source.read(2000)).toEqual({
      readings: [
        { kind: 'power', deviceId: 'hwmon:acpi_power_meter@ACPI000D:00:power1', timeMs: 2000, watts: 125 },
        { kind: 'counter', deviceId: 'hwmon:amd_energy@amd_energy.0:energy1', timeMs: 2000, value: 7_000_000, unitJoules: 1e-6 },
        { kind: 'counter', deviceId: 'hwmon:amd_energy@amd_energy.0:energy17', timeMs: 2000, value: 90_000_000, unitJoules: 1e-6 },
        { kind: 'counter', deviceId: 'hwmon:ina238@hwmon3:energy1', timeMs: 2000, value: 3_000_000, unitJoules: 1e-6, watts: 12.25 },
      ],
      failures: [],
    });

    fixture.setHwmonValue('hwmon1', 'power1_average', 118_500_000);
    fixture.setHwmonValue('hwmon2', 'energy17_input', 90_250_000);
    const { readings } = await source.read(4000);
    expect(readings[0]).toEqual({ kind: 'power', deviceId: 'hwmon:acpi_power_meter@ACPI000D:00:power1', timeMs: 4000, watts: 118.5 });
    expect(readings[2]).toEqual({ kind: 'counter', deviceId: 'hwmon:amd_energy@amd_energy.0:energy17', timeMs: 4000, value: 90_250_000, unitJoules: 1e-6 });
  });

  it('turns a sensor that becomes unreadable or vanishes into failures, and reads it again when it is back', async () => {
    fixture = mixedChips();
    const source = new HwmonSource({ hostRoot: fixture.root, reader: fixture.reader });
    await source.discover();
    const meterFile = 'sys/class/hwmon/hwmon1/power1_average';
    fixture.makeUnreadable(meterFile);
    fixture.removeFile('sys/class/hwmon/hwmon3/energy1_input');
    const { readings, failures } = await source.read(2000);
    expect(readings.map((reading) => reading.deviceId)).toEqual(['hwmon:amd_energy@amd_energy.0:energy1', 'hwmon:amd_energy@amd_energy.0:energy17']);
    expect(failures).toEqual([
      {
        deviceId: 'hwmon:acpi_power_meter@ACPI000D:00:power1',
        errorType: 'permission_denied',
        message: `${fixture.path(meterFile)}: permission denied`,
        fix: HWMON_PERMISSION_FIX,
      },
      {
        deviceId: 'hwmon:ina238@hwmon3:energy1',
        errorType: 'not_found',
        message: `${fixture.path('sys/class/hwmon/hwmon3/energy1_input')}: no longer present (ENOENT)`,
      },
    ]);

    fixture.makeReadable(meterFile);
    fixture.setHwmonValue('hwmon3', 'energy1_input', 3_500_000);
    expect((await source.read(4000)).failures).toEqual([]);
  });
});
