// Power and energy sensors of hwmon chips: `power*_input|average` (µW) and `energy*_input` (µJ).
// Temperature-only chips expose neither and are not devices here.
import { readdir, realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { keepKnown, type Device, type DeviceFailure, type DeviceSource, type Discovery, type HwType, type Reading, type SourceProblem } from './source.ts';
import { classifyReadError, hostPath, readOptionalTrimmed, readOptionalUnsigned, readUnsigned } from './sysfs-read.ts';
import { SysfsSource } from './sysfs-source.ts';
import { MICROJOULE_JOULES, microwattsToWatts, naturalOrder } from './units.ts';

const HWMON_DIR = 'sys/class/hwmon';
const CHIP_DIR = /^hwmon\d+$/;
const SENSOR_FILE = /^(power|energy)(\d+)_(input|average)$/;

/** The amdgpu source reads these chips through /sys/class/drm with GPU identity; reading them here would count GPUs twice. */
const CHIPS_READ_ELSEWHERE = new Set(['amdgpu']);

export const HWMON_PERMISSION_FIX =
  'run footprint as root or grant read on the hwmon file (a udev rule or `chmod a+r` at boot); ' +
  'amd_energy made energy*_input root-only after CVE-2020-12912';

interface ChipKind {
  type: HwType;
  vendor: string;
}

/** What a chip measures, by its driver name. Unknown chips are `other` from an `unknown` vendor. */
const CHIP_KINDS: { match: RegExp; kind: ChipKind }[] = [
  { match: /^(amd_energy|zenpower)$/, kind: { type: 'cpu', vendor: 'amd' } },
  { match: /^(acpi_)?power_meter$/, kind: { type: 'platform', vendor: 'unknown' } },
  { match: /^(i915|xe)$/, kind: { type: 'gpu', vendor: 'intel' } },
  { match: /^nouveau$/, kind: { type: 'gpu', vendor: 'nvidia' } },
  { match: /^ina\d+/, kind: { type: 'other', vendor: 'ti' } },
];

/**
 * A sensor label, when it names its domain, refines the chip's type (amd_energy: `Ecore001`, `Esocket0`;
 * zenpower: `SVI2_P_Core`, `SVI2_P_SoC`). First match wins, so `Esocket` is not read as SoC nor `uncore` as core.
 */
const LABEL_TYPES: { match: RegExp; type: HwType }[] = [
  { match: /socket|package|pkg/i, type: 'cpu' },
  { match: /uncore|soc(?!ket)/i, type: 'uncore' },
  { match: /core/i, type: 'cpu-core' },
  { match: /dram|memory/i, type: 'memory' },
];

function chipKind(chipName: string): ChipKind {
  return CHIP_KINDS.find((entry) => entry.match.test(chipName))?.kind ?? { type: 'other', vendor: 'unknown' };
}

function sensorType(chip: ChipKind, label: string | undefined): HwType {
  return (label === undefined ? undefined : LABEL_TYPES.find((entry) => entry.match.test(label))?.type) ?? chip.type;
}

interface SensorFile {
  kind: 'power' | 'energy';
  index: string;
  path: string;
  label?: string;
}

/** What one device reads: an energy counter, a power file, or both when a chip pairs them (ina238). */
interface Sensor {
  deviceId: string;
  energyPath?: string;
  powerPath?: string;
}

export class HwmonSource extends SysfsSource<Sensor> implements DeviceSource {
  readonly name = 'hwmon';
  readonly rediscoverable = true;

  async discover(): Promise<Discovery> {
    const devices: Device[] = [];
    const problems: SourceProblem[] = [];
    const sensors: Sensor[] = [];
    const classDir = hostPath(this.hostRoot, HWMON_DIR);
    const chipDirs = (await readdir(classDir).catch(() => [] as string[])).filter((entry) => CHIP_DIR.test(entry)).sort(naturalOrder);
    for (const chipDir of chipDirs) {
      const chipPath = `${classDir}/${chipDir}`;
      const chipName = await readOptionalTrimmed(this.reader, `${chipPath}/name`);
      if (chipName === undefined) continue;
      if (CHIPS_READ_ELSEWHERE.has(chipName)) {
        this.logger?.debug({ chip: chipDir }, `hwmon chip ${chipName} left to its own source`);
        continue;
      }
      const files = await this.#sensorFiles(chipPath, problems);
      if (files.length === 0) continue;
      // The device link's target names the hardware (`ACPI000D:00`, `1-0040`) and survives reboots; hwmonN does not.
      const where = await realpath(`${chipPath}/device`).then(basename, () => chipDir);
      for (const group of pairSensors(files)) {
        const { device, sensor } = await this.#describe(chipName, where, chipDir, group);
        devices.push(device);
        sensors.push(sensor);
      }
    }
    this.entries = keepKnown(this.entries, sensors, (known) => known.deviceId);
    return { devices, problems };
  }

  /** The chip's readable power and energy files; an unreadable one is left out and reported. */
  async #sensorFiles(chipPath: string, problems: SourceProblem[]): Promise<SensorFile[]> {
    const byKey = new Map<string, SensorFile>();
    const entries = (await readdir(chipPath).catch(() => [] as string[])).sort(naturalOrder);
    for (const entry of entries) {
      const match = SENSOR_FILE.exec(entry);
      if (!match) continue;
      const [, kind, index, suffix] = match as unknown as [string, 'power' | 'energy', string, string];
      const key = `${kind}${index}`;
      // A chip with both keeps powerN_average: an average over the chip's interval integrates better than one instant.
      if (byKey.has(key) && suffix === 'input') continue;
      const path = `${chipPath}/${entry}`;
      try {
        await readUnsigned(this.reader, path);
      } catch (error) {
        const problem = classifyReadError(error, path, HWMON_PERMISSION_FIX);
        problems.push({ source: this.name, message: `hwmon sensor left out: ${problem.message}`, fix: problem.fix ?? 'check the hwmon driver' });
        byKey.delete(key);
        continue;
      }
      const label = await readOptionalTrimmed(this.reader, `${chipPath}/${key}_label`);
      byKey.set(key, { kind, index, path, ...(label ? { label } : {}) });
    }
    return [...byKey.values()];
  }

  async #describe(chipName: string, where: string, chipDir: string, group: SensorGroup): Promise<{ device: Device; sensor: Sensor }> {
    const primary = group.energy ?? group.power!;
    const chip = chipKind(chipName);
    const sensorName = `${primary.kind}${primary.index}`;
    const deviceId = `hwmon:${chipName}@${where}:${sensorName}`;
    const capMicrowatts = group.power ? await readOptionalUnsigned(this.reader, group.power.path.replace(/_(input|average)$/, '_cap')) : undefined;
    const device: Device = {
      id: deviceId,
      type: sensorType(chip, primary.label),
      name: `${chipName} ${primary.label ?? sensorName}`,
      vendor: chip.vendor,
      method: group.energy ? 'counter' : 'power',
      // hwmon chips cannot be placed against RAPL and GPUs in general (amd_energy repeats RAPL's MSRs, a wall meter
      // includes the GPUs), so they are published per device but never summed into hw.host.* (docs/methodology.md).
      hostRole: 'sub',
      ...(capMicrowatts ? { powerLimitWatts: microwattsToWatts(capMicrowatts) } : {}),
      info: { path: `${HWMON_DIR}/${chipDir}`, chip: chipName },
    };
    return {
      device,
      sensor: { deviceId, ...(group.energy ? { energyPath: group.energy.path } : {}), ...(group.power ? { powerPath: group.power.path } : {}) },
    };
  }

  protected async readEntry(sensor: Sensor, nowMs: number): Promise<Reading | DeviceFailure> {
    const path = sensor.energyPath ?? sensor.powerPath!;
    try {
      const value = await readUnsigned(this.reader, path);
      if (sensor.energyPath === undefined) return { kind: 'power', deviceId: sensor.deviceId, timeMs: nowMs, watts: microwattsToWatts(value) };
      // The paired power file only decorates the counter; the counter stands without it.
      const powerMicrowatts = sensor.powerPath === undefined ? undefined : await readOptionalUnsigned(this.reader, sensor.powerPath);
      return {
        kind: 'counter',
        deviceId: sensor.deviceId,
        timeMs: nowMs,
        value,
        unitJoules: MICROJOULE_JOULES,
        ...(powerMicrowatts === undefined ? {} : { watts: microwattsToWatts(powerMicrowatts) }),
      };
    } catch (error) {
      return { deviceId: sensor.deviceId, ...classifyReadError(error, path, HWMON_PERMISSION_FIX) };
    }
  }
}

interface SensorGroup {
  energy?: SensorFile;
  power?: SensorFile;
}

/**
 * One device per measured domain: an energy counter and a power file with the same label (or, both
 * unlabelled, the same index) are the same domain and become one counter device carrying the watts.
 */
function pairSensors(files: SensorFile[]): SensorGroup[] {
  const groups = new Map<string, SensorGroup>();
  for (const file of files) {
    const domain = file.label ?? `#${file.index}`;
    const group = groups.get(domain) ?? {};
    if (group[file.kind]) groups.set(`${domain}/${file.kind}${file.index}`, { [file.kind]: file });
    else groups.set(domain, { ...group, [file.kind]: file });
  }
  return [...groups.values()];
}
