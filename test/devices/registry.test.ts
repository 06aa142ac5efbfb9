import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RAPL_PERMISSION_FIX } from '../../src/devices/rapl.ts';
import { createDeviceSources, describeChange, discoverAll, rediscover } from '../../src/devices/registry.ts';
import type { Device, DeviceSource } from '../../src/devices/source.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';

const logger = pino({ level: 'silent' });
let fixture: SysfsFixture;
afterEach(() => fixture?.remove());

function host(zones: { dram: boolean }): SysfsFixture {
  const tree = createSysfsFixture();
  tree.setCpuVendor('GenuineIntel');
  tree.setCpuTimes([{ user: 10, system: 0, idle: 90 }]);
  tree.setMemTotal(8 * 1024 * 1024);
  for (const socket of [0, 1]) {
    tree.addRaplZone(`intel-rapl:${socket}`, { name: `package-${socket}`, energyMicrojoules: 1000 });
    if (zones.dram) tree.addRaplZone(`intel-rapl:${socket}:0`, { name: 'dram', energyMicrojoules: 100 });
  }
  return tree;
}

async function discover(tree: SysfsFixture) {
  const config = { hostRoot: tree.root, nvmlLibrary: 'libnvidia-ml.so.1', deviceTimeout: 1000 };
  // These cases are about CPU and memory classes; the GPU sources have their own tests.
  const sources = createDeviceSources(config, logger, { reader: tree.reader }).filter((source) => source.name === 'rapl' || source.name === 'hwmon');
  return discoverAll(sources, { hostRoot: tree.root, logger, reader: tree.reader });
}

describe('device registry', () => {
  it('creates the RAPL, hwmon, NVML and amdgpu sources', () => {
    const sources = createDeviceSources({ hostRoot: '/', nvmlLibrary: 'libnvidia-ml.so.1', deviceTimeout: 1000 }, logger);
    expect(sources.map((source) => source.name)).toEqual(['rapl', 'hwmon', 'nvml', 'amdgpu']);
  });

  it('reports a missing NVML library as one problem with the fix and keeps the CPU devices', async () => {
    fixture = host({ dram: true });
    const sources = createDeviceSources({ hostRoot: fixture.root, nvmlLibrary: '/nonexistent/libnvidia-ml.so.1', deviceTimeout: 1000 }, logger, {
      reader: fixture.reader,
    });
    const inventory = await discoverAll(sources, { hostRoot: fixture.root, logger, reader: fixture.reader });
    expect(inventory.sources.map((source) => source.name)).toEqual(['rapl']);
    expect(inventory.problems.map((problem) => problem.source)).toEqual(['nvml']);
    expect(inventory.problems[0]!.fix).toContain('--nvml-library');
  });

  it('estimates nothing when RAPL measures both cpu and memory', async () => {
    fixture = host({ dram: true });
    const inventory = await discover(fixture);
    expect(inventory.estimatedClasses).toEqual([]);
    expect(inventory.sources.map((source) => source.name)).toEqual(['rapl']);
    expect(inventory.devices.map((device) => `${device.id} ${device.method}`)).toEqual([
      'rapl:package-0 counter',
      'rapl:package-0:dram counter',
      'rapl:package-1 counter',
      'rapl:package-1:dram counter',
    ]);
    expect(inventory.problems).toEqual([]);
  });

  it('estimates only memory when RAPL has packages but no dram zone (most AMD and client CPUs)', async () => {
    fixture = host({ dram: false });
    const inventory = await discover(fixture);
    expect(inventory.estimatedClasses).toEqual(['memory']);
    expect(inventory.sources.map((source) => source.name)).toEqual(['rapl', 'estimator']);
    expect(inventory.devices.map((device) => `${device.id} ${device.method} ${device.hostRole}`)).toEqual([
      'rapl:package-0 counter part',
      'rapl:package-1 counter part',
      'estimator:memory model part',
    ]);
    expect(inventory.problems).toEqual([
      expect.objectContaining({ source: 'estimator', message: expect.stringContaining('no hardware measures memory power') }),
    ]);
  });

  it('falls back to the estimator for cpu only when the packages are root-only, keeping readable dram', async () => {
    fixture = host({ dram: true });
    for (const socket of [0, 1]) fixture.makeUnreadable(`sys/class/powercap/intel-rapl:${socket}/energy_uj`);
    const inventory = await discover(fixture);
    expect(inventory.estimatedClasses).toEqual(['cpu']);
    expect(inventory.devices.map((device) => device.id)).toEqual(['rapl:package-0:dram', 'rapl:package-1:dram', 'estimator:cpu']);
    expect(inventory.problems.filter((problem) => problem.source === 'rapl')).toEqual([
      expect.objectContaining({ message: expect.stringContaining('package-0 (intel-rapl:0) left out'), fix: RAPL_PERMISSION_FIX }),
      expect.objectContaining({ message: expect.stringContaining('package-1 (intel-rapl:1) left out'), fix: RAPL_PERMISSION_FIX }),
    ]);
    const { readings } = await inventory.sources.at(-1)!.read(2000);
    expect(readings.map((reading) => reading.deviceId)).toEqual(['estimator:cpu']);
  });

  it('runs on the estimator alone where nothing is readable, and says why', async () => {
    fixture = createSysfsFixture();
    fixture.setCpuTimes([{ user: 10, system: 0, idle: 90 }]);
    fixture.setMemTotal(8 * 1024 * 1024);
    const inventory = await discover(fixture);
    expect(inventory.estimatedClasses).toEqual(['cpu', 'memory']);
    expect(inventory.sources.map((source) => source.name)).toEqual(['estimator']);
    expect(inventory.devices.map((device) => `${device.id} ${device.method}`)).toEqual(['estimator:cpu model', 'estimator:memory model']);
    expect(inventory.problems.map((problem) => problem.source)).toEqual(['rapl', 'estimator', 'estimator']);
  });

  it('does not count an hwmon CPU sensor as covering cpu: it is outside the host total', async () => {
    fixture = createSysfsFixture();
    fixture.setCpuTimes([{ user: 10, system: 0, idle: 90 }]);
    fixture.setMemTotal(8 * 1024 * 1024);
    fixture.addHwmon('hwmon0', { name: 'amd_energy', files: { energy1_input: 5, energy1_label: 'Esocket0' } });
    const inventory = await discover(fixture);
    expect(inventory.devices.map((device) => `${device.id} ${device.type} ${device.hostRole}`)).toEqual([
      'hwmon:amd_energy@hwmon0:energy1 cpu sub',
      'estimator:cpu cpu part',
      'estimator:memory memory part',
    ]);
  });

  it('turns a source that throws during discovery into a problem', async () => {
    fixture = host({ dram: true });
    const broken: DeviceSource = {
      name: 'broken',
      discover: async () => {
        throw new Error('driver exploded');
      },
      read: async () => ({ readings: [], failures: [] }),
    };
    const sources = [
      ...createDeviceSources({ hostRoot: fixture.root, nvmlLibrary: 'x', deviceTimeout: 1000 }, logger).filter((source) => source.name === 'rapl'),
      broken,
    ];
    const inventory = await discoverAll(sources, { hostRoot: fixture.root, logger });
    expect(inventory.sources.map((source) => source.name)).toEqual(['rapl']);
    expect(inventory.problems).toEqual([{ source: 'broken', message: 'discovery failed: driver exploded', fix: 'report this as a footprint bug' }]);
  });
});

describe('rediscovery', () => {
  const ids = (devices: { id: string }[]) => devices.map((device) => device.id);

  it('adds packages whose energy_uj became readable and stops estimating cpu', async () => {
    fixture = host({ dram: true });
    for (const socket of [0, 1]) fixture.makeUnreadable(`sys/class/powercap/intel-rapl:${socket}/energy_uj`);
    const inventory = await discover(fixture);
    const devicesHeld = inventory.devices;
    const estimator = inventory.sources.at(-1)!;

    expect(await rediscover(inventory, { hostRoot: fixture.root, logger, reader: fixture.reader })).toEqual([]);
    for (const socket of [0, 1]) fixture.makeReadable(`sys/class/powercap/intel-rapl:${socket}/energy_uj`);
    const changes = await rediscover(inventory, { hostRoot: fixture.root, logger, reader: fixture.reader });

    expect(changes.map(describeChange)).toEqual(['rapl:package-0 is now measured (counter); estimator:cpu stops', 'rapl:package-1 is now measured (counter)']);
    expect(inventory.devices).toBe(devicesHeld);
    expect(ids(inventory.devices)).toEqual(['rapl:package-0:dram', 'rapl:package-1:dram', 'rapl:package-0', 'rapl:package-1']);
    expect(inventory.estimatedClasses).toEqual([]);
    expect(inventory.sources.map((source) => source.name)).toEqual(['rapl']);
    expect(inventory.problems).toEqual([]);
    const { readings } = await inventory.sources[0]!.read(3000);
    expect(readings.map((reading) => `${reading.deviceId} ${reading.kind === 'counter' ? reading.value : ''}`)).toEqual([
      'rapl:package-0:dram 100',
      'rapl:package-1:dram 100',
      'rapl:package-0 1000',
      'rapl:package-1 1000',
    ]);
    expect((await estimator.read(3000)).readings).toEqual([]);
  });

  it('keeps reading a zone that vanished, so it fails and is retried rather than forgotten', async () => {
    fixture = host({ dram: true });
    const inventory = await discover(fixture);
    fixture.removeFile('sys/class/powercap/intel-rapl:1:0/energy_uj');
    expect(await rediscover(inventory, { hostRoot: fixture.root, logger, reader: fixture.reader })).toEqual([]);
    expect(ids(inventory.devices)).toEqual(['rapl:package-0', 'rapl:package-0:dram', 'rapl:package-1', 'rapl:package-1:dram']);
    const { failures } = await inventory.sources[0]!.read(3000);
    expect(failures.map((failure) => `${failure.deviceId} ${failure.errorType}`)).toEqual(['rapl:package-1:dram not_found']);
  });

  it('asks again a source that found nothing, and never an active one that is not rediscoverable', async () => {
    fixture = host({ dram: true });
    const calls = { active: 0, idle: 0 };
    const gpu: Device = { id: 'GPU-1', type: 'gpu', name: 'board', vendor: 'nvidia', method: 'counter', hostRole: 'external' };
    const fake = (name: 'active' | 'idle', devicesFound: () => Device[]): DeviceSource => ({
      name,
      discover: async () => {
        calls[name]++;
        return { devices: devicesFound(), problems: [] };
      },
      read: async () => ({ readings: [], failures: [] }),
    });
    let driverLoaded = false;
    const rapl = createDeviceSources({ hostRoot: fixture.root, nvmlLibrary: 'x', deviceTimeout: 1000 }, logger).filter((source) => source.name === 'rapl');
    const inventory = await discoverAll([...rapl, fake('active', () => [{ ...gpu, id: 'GPU-0' }]), fake('idle', () => (driverLoaded ? [gpu] : []))], {
      hostRoot: fixture.root,
      logger,
    });
    expect(inventory.idleSources.map((source) => source.name)).toEqual(['idle']);

    await rediscover(inventory, { hostRoot: fixture.root, logger });
    driverLoaded = true;
    const changes = await rediscover(inventory, { hostRoot: fixture.root, logger });
    expect(changes.map(describeChange)).toEqual(['GPU-1 is now measured (counter)']);
    expect(calls).toEqual({ active: 1, idle: 3 });
    expect(inventory.sources.map((source) => source.name)).toEqual(['rapl', 'active', 'idle']);
    expect(inventory.idleSources).toEqual([]);
  });
});
