// AmdGpuSource against a fixture sysfs tree shaped like amdgpu's: cards under /sys/class/drm whose
// `device` links into /sys/devices, with the amdgpu hwmon directory below it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AmdGpuSource } from '../../src/devices/amdgpu.ts';
import type { PowerReading } from '../../src/devices/source.ts';
import { EnergyMeter } from '../../src/energy/meter.ts';
import { powerBoundWatts } from '../../src/energy/plausibility.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const MI300X_PCI = '0000:03:00.0';
const W7900_PCI = '0000:43:00.0';
const IGPU_PCI = '0000:00:02.0';

let fixture: SysfsFixture;
let root: string;

const mi300xPower = (microwatts: number) => fixture.writeFile(`sys/devices/pci0000:00/${MI300X_PCI}/hwmon/hwmon3/power1_average`, microwatts);
const w7900Power = (microwatts: number) => fixture.writeFile(`sys/devices/pci0000:00/${W7900_PCI}/hwmon/hwmon5/power1_input`, microwatts);

beforeEach(() => {
  fixture = createSysfsFixture();
  root = fixture.root;
  // An Intel iGPU beside the AMD boards: a drm card, but not amdgpu's.
  fixture.addDrmCard('card0', IGPU_PCI, { driver: 'i915', hwmonDir: 'hwmon1', hwmonFiles: { power1_max: 65_000_000 } });
  fixture.addDrmCard('card1', MI300X_PCI, {
    driver: 'amdgpu',
    hwmonDir: 'hwmon3',
    hwmonFiles: { power1_average: 250_000_000, power1_cap: 750_000_000, power1_input: 1 },
    uniqueId: '5d1a4b2c7e9f0123',
    productName: 'AMD Instinct MI300X',
  });
  fixture.addDrmCard('card2', W7900_PCI, { driver: 'amdgpu', hwmonDir: 'hwmon5', hwmonFiles: { power1_input: 42_500_000 } });
  // Connectors and render nodes live beside the cards and are not GPUs.
  fixture.addDrmNode('card1-DP-1', MI300X_PCI);
  fixture.addDrmNode('renderD128', MI300X_PCI);
});

afterEach(() => fixture.remove());

describe('AmdGpuSource', () => {
  test('discovers amdgpu cards with their identity, name and power cap', async () => {
    const { devices, problems } = await new AmdGpuSource({ hostRoot: root }).discover();
    expect(problems).toEqual([]);
    expect(devices).toEqual([
      {
        id: '5d1a4b2c7e9f0123',
        type: 'gpu',
        name: 'AMD Instinct MI300X',
        vendor: 'amd',
        method: 'power',
        hostRole: 'external',
        powerLimitWatts: 750,
        info: { card: 'card1', sensor: join(root, `sys/class/drm/card1/device/hwmon/hwmon3/power1_average`) },
      },
      {
        id: W7900_PCI,
        type: 'gpu',
        name: 'AMD GPU',
        vendor: 'amd',
        method: 'power',
        hostRole: 'external',
        info: { card: 'card2', sensor: join(root, `sys/class/drm/card2/device/hwmon/hwmon5/power1_input`) },
      },
    ]);
  });

  test('reads exact watts from microwatts, power1_average before power1_input', async () => {
    const amd = new AmdGpuSource({ hostRoot: root });
    await amd.discover();
    mi300xPower(612_345_678);
    w7900Power(97_000_001);
    const { readings, failures } = await amd.read(4000);
    expect(failures).toEqual([]);
    expect(readings.sort((a, b) => a.deviceId.localeCompare(b.deviceId))).toEqual([
      { kind: 'power', deviceId: W7900_PCI, timeMs: 4000, watts: 97.000001 },
      { kind: 'power', deviceId: '5d1a4b2c7e9f0123', timeMs: 4000, watts: 612.345678 },
    ]);
  });

  test('a vanished sensor is a failure for that board only, and is found again after a driver reload', async () => {
    const amd = new AmdGpuSource({ hostRoot: root });
    await amd.discover();
    rmSync(fixture.path(`sys/devices/pci0000:00/${MI300X_PCI}/hwmon`), { recursive: true });
    const gone = await amd.read(1000);
    expect(gone.readings.map((reading) => reading.deviceId)).toEqual([W7900_PCI]);
    expect(gone.failures).toEqual([expect.objectContaining({ deviceId: '5d1a4b2c7e9f0123', errorType: 'not_found' })]);

    // The reloaded driver registers its hwmon under a new number.
    fixture.writeFile(`sys/devices/pci0000:00/${MI300X_PCI}/hwmon/hwmon9/name`, 'amdgpu');
    fixture.writeFile(`sys/devices/pci0000:00/${MI300X_PCI}/hwmon/hwmon9/power1_average`, 300_000_000);
    const back = await amd.read(2000);
    expect(back.failures).toEqual([]);
    expect(back.readings).toContainEqual({ kind: 'power', deviceId: '5d1a4b2c7e9f0123', timeMs: 2000, watts: 300 });
  });

  test('energy through the energy stage equals the integral of the scripted power', async () => {
    const amd = new AmdGpuSource({ hostRoot: root });
    const [board] = (await amd.discover()).devices;
    const meter = new EnergyMeter({ maxGapMs: 10_000 });
    // Board power ramps linearly between samples, so the trapezoid rule is exact: 100 W rising 20 W per 2 s tick.
    const wattsAt = (tick: number) => 100 + 20 * tick;
    let joules = 0;
    for (let tick = 0; tick <= 10; tick++) {
      mi300xPower(wattsAt(tick) * 1e6);
      const { readings } = await amd.read(tick * 2000);
      const reading = readings.find((candidate): candidate is PowerReading => candidate.deviceId === '5d1a4b2c7e9f0123')!;
      joules += meter.add(reading, powerBoundWatts(board!)).interval?.energyJoules ?? 0;
    }
    // ∫ (100 + 10 t) dt over 0..20 s = 2000 + 2000 J.
    expect(joules).toBeCloseTo(4000, 9);
  });

  test('no drm directory means no devices and no problem', async () => {
    expect(await new AmdGpuSource({ hostRoot: join(root, 'nowhere') }).discover()).toEqual({ devices: [], problems: [] });
  });
});
