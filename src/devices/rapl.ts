// RAPL energy counters through the Linux powercap driver (intel_rapl_msr; AMD CPUs use the same
// `intel-rapl` control type). Reads raw `energy_uj`; the energy stage turns it into monotonic joules.
import { readdir } from 'node:fs/promises';
import {
  keepKnown,
  type CounterReading,
  type Device,
  type DeviceFailure,
  type DeviceSource,
  type Discovery,
  type HostRole,
  type HwType,
  type SourceProblem,
} from './source.ts';
import { classifyReadError, hostPath, readOptionalUnsigned, readTextFile, readTrimmed, readUnsigned, type FileReader } from './sysfs-read.ts';
import { SysfsSource } from './sysfs-source.ts';
import { MICROJOULE_JOULES } from './units.ts';

const POWERCAP_DIR = 'sys/class/powercap';
/** `intel-rapl:0` (package or psys) and `intel-rapl:0:1` (sub-zone). `intel-rapl-mmio:*` is left out: it is the same package counter read through MMIO. */
const ZONE_DIR = /^intel-rapl:(\d+)(?::(\d+))?$/;

export const RAPL_PERMISSION_FIX =
  'energy_uj is readable only by root since CVE-2020-8694: run footprint as root, or grant read on ' +
  '/sys/class/powercap/intel-rapl:*/energy_uj (a udev rule or `chmod a+r` at boot); ' +
  'in Kubernetes set rapl.enabled=true in the chart, which mounts /sys and runs the reader privileged';

interface ZoneRole {
  type: HwType;
  hostRole: HostRole;
}

/**
 * The zone name decides what it measures and how it adds up (see docs/methodology.md):
 * psys is the whole SoC platform; packages and dram are disjoint domains; core and uncore sit inside a package.
 */
function zoneRole(name: string): ZoneRole {
  if (name === 'psys') return { type: 'platform', hostRole: 'whole' };
  if (name.startsWith('package')) return { type: 'cpu', hostRole: 'part' };
  if (name === 'dram') return { type: 'memory', hostRole: 'part' };
  if (name === 'core') return { type: 'cpu-core', hostRole: 'sub' };
  if (name === 'uncore') return { type: 'uncore', hostRole: 'sub' };
  // An unknown future zone is shown but never added to the host: it might overlap a package.
  return { type: 'other', hostRole: 'sub' };
}

const CPU_VENDORS: Record<string, string> = { GenuineIntel: 'intel', AuthenticAMD: 'amd', HygonGenuine: 'hygon' };

/** `vendor_id` of the first CPU in `<hostRoot>/proc/cpuinfo`, as a lower-case vendor; `unknown` when absent. */
async function readCpuVendor(hostRoot: string, reader: FileReader = readTextFile): Promise<string> {
  const cpuinfo = await reader(hostPath(hostRoot, 'proc/cpuinfo')).catch(() => '');
  const vendorId = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  return vendorId === undefined ? 'unknown' : (CPU_VENDORS[vendorId] ?? vendorId.toLowerCase());
}

/** A zone directory with its name, before its counter is tried. */
interface NamedZone {
  dirName: string;
  /** `intel-rapl:0` for a sub-zone `intel-rapl:0:1`; undefined for top-level zones. */
  parentDirName?: string;
  zoneName: string;
}

/** A zone whose counter reads. */
interface ZoneFound extends NamedZone {
  energyPath: string;
  wrapAtMicrojoules: number;
  powerLimitMicrowatts?: number;
}

interface Zone {
  deviceId: string;
  energyPath: string;
  wrapAtMicrojoules: number;
}

export class RaplSource extends SysfsSource<Zone> implements DeviceSource {
  readonly name = 'rapl';
  readonly rediscoverable = true;

  async discover(): Promise<Discovery> {
    const problems: SourceProblem[] = [];
    const powercapDir = hostPath(this.hostRoot, POWERCAP_DIR);
    const entries = await readdir(powercapDir).catch(() => [] as string[]);
    const zoneDirs = entries.filter((entry) => ZONE_DIR.test(entry)).sort(compareZoneDirs);
    if (zoneDirs.length === 0) {
      problems.push({
        source: this.name,
        message: `no RAPL zones under ${powercapDir}`,
        fix:
          'on bare metal load the driver (`modprobe intel_rapl_msr`, Intel and AMD); in a VM the hypervisor hides RAPL; ' +
          'in a container mount the host /sys and point --host-root at it',
      });
      return { devices: [], problems };
    }

    const named = await this.#readZoneNames(zoneDirs, problems);
    const ids = assignZoneIds(named);
    const found: ZoneFound[] = [];
    for (const zone of named) {
      const inspected = await this.#inspectZone(zone, problems);
      if (inspected) found.push(inspected);
    }
    const vendor = found.length > 0 ? await readCpuVendor(this.hostRoot, this.reader) : 'unknown';

    const devices: Device[] = [];
    const zones: Zone[] = [];
    for (const zone of found) {
      const deviceId = ids.get(zone.dirName)!;
      const role = zoneRole(zone.zoneName);
      const parentId = zone.parentDirName === undefined ? undefined : ids.get(zone.parentDirName);
      devices.push({
        id: deviceId,
        type: role.type,
        name: zone.zoneName,
        vendor,
        method: 'counter',
        hostRole: role.hostRole,
        ...(zone.powerLimitMicrowatts ? { powerLimitWatts: zone.powerLimitMicrowatts / 1e6 } : {}),
        ...(parentId ? { parentId } : {}),
        info: { path: `${POWERCAP_DIR}/${zone.dirName}`, maxEnergyRangeMicrojoules: String(zone.wrapAtMicrojoules) },
      });
      zones.push({ deviceId, energyPath: zone.energyPath, wrapAtMicrojoules: zone.wrapAtMicrojoules });
    }
    this.entries = keepKnown(this.entries, zones, (known) => known.deviceId);
    this.logger?.debug({ zones: devices.map((device) => device.id) }, 'rapl zones discovered');
    return { devices, problems };
  }

  /** Names are world-readable and decide the ids, so every zone is named before any counter is tried. */
  async #readZoneNames(zoneDirs: string[], problems: SourceProblem[]): Promise<NamedZone[]> {
    const named: NamedZone[] = [];
    for (const dirName of zoneDirs) {
      const namePath = hostPath(this.hostRoot, `${POWERCAP_DIR}/${dirName}/name`);
      try {
        const subZone = ZONE_DIR.exec(dirName)![2] !== undefined;
        named.push({
          dirName,
          zoneName: await readTrimmed(this.reader, namePath),
          ...(subZone ? { parentDirName: dirName.slice(0, dirName.lastIndexOf(':')) } : {}),
        });
      } catch (error) {
        const problem = classifyReadError(error, namePath, RAPL_PERMISSION_FIX);
        problems.push({ source: this.name, message: `RAPL zone ${dirName} left out: ${problem.message}`, fix: problem.fix ?? 'check the powercap driver' });
      }
    }
    return named;
  }

  /**
   * Reads a zone's range, first counter value and limit. A zone whose counter cannot be read now
   * is left out (its class falls back to the estimator) and reported once as a problem.
   */
  async #inspectZone(zone: NamedZone, problems: SourceProblem[]): Promise<ZoneFound | undefined> {
    const zoneDir = hostPath(this.hostRoot, `${POWERCAP_DIR}/${zone.dirName}`);
    const energyPath = `${zoneDir}/energy_uj`;
    let path = `${zoneDir}/max_energy_range_uj`;
    try {
      const wrapAtMicrojoules = await readUnsigned(this.reader, path);
      path = energyPath;
      await readUnsigned(this.reader, energyPath);
      // The enforced long-term limit is what the package is held to (as NVML's enforced limit for GPUs);
      // max_power_uw is the ceiling that limit may be set to, used only when no limit is exposed. 0 means unset.
      const powerLimitMicrowatts =
        (await readOptionalUnsigned(this.reader, `${zoneDir}/constraint_0_power_limit_uw`)) ||
        (await readOptionalUnsigned(this.reader, `${zoneDir}/constraint_0_max_power_uw`));
      return { ...zone, energyPath, wrapAtMicrojoules, ...(powerLimitMicrowatts ? { powerLimitMicrowatts } : {}) };
    } catch (error) {
      const problem = classifyReadError(error, path, RAPL_PERMISSION_FIX);
      problems.push({
        source: this.name,
        message: `RAPL zone ${zone.zoneName} (${zone.dirName}) left out: ${problem.message}`,
        fix: problem.fix ?? 'check that the powercap driver exposes this zone completely',
      });
      return undefined;
    }
  }

  protected async readEntry(zone: Zone, nowMs: number): Promise<CounterReading | DeviceFailure> {
    try {
      const value = await readUnsigned(this.reader, zone.energyPath);
      return { kind: 'counter', deviceId: zone.deviceId, timeMs: nowMs, value, unitJoules: MICROJOULE_JOULES, wrapAt: zone.wrapAtMicrojoules };
    } catch (error) {
      return { deviceId: zone.deviceId, ...classifyReadError(error, zone.energyPath, RAPL_PERMISSION_FIX) };
    }
  }
}

/** Orders `intel-rapl:10` after `intel-rapl:2`, and each sub-zone right after its package. */
function compareZoneDirs(a: string, b: string): number {
  const [, a0, a1] = ZONE_DIR.exec(a)!;
  const [, b0, b1] = ZONE_DIR.exec(b)!;
  return Number(a0) - Number(b0) || Number(a1 ?? -1) - Number(b1 ?? -1);
}

/**
 * Device ids: `rapl:<zone name>` for top-level zones (`rapl:package-0`, `rapl:psys`) and
 * `rapl:<package name>:<zone name>` for sub-zones (`rapl:package-0:dram`). Names, unlike sysfs
 * indexes, are what users and node_exporter see. When firmware gives two zones the same id
 * (multi-die parts repeat `package-0`), every zone sharing it gets `@<sysfs index>` appended
 * (`rapl:package-0@1`), so ids stay unique and do not depend on discovery order.
 */
function assignZoneIds(zones: NamedZone[]): Map<string, string> {
  const nameByDir = new Map(zones.map((zone) => [zone.dirName, zone.zoneName]));
  const baseIds = zones.map((zone) => {
    const parentName = zone.parentDirName === undefined ? undefined : (nameByDir.get(zone.parentDirName) ?? zone.parentDirName);
    return parentName === undefined ? `rapl:${zone.zoneName}` : `rapl:${parentName}:${zone.zoneName}`;
  });
  const counts = new Map<string, number>();
  for (const id of baseIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  return new Map(
    zones.map((zone, index) => {
      const baseId = baseIds[index]!;
      const sysfsIndex = zone.dirName.slice('intel-rapl:'.length);
      return [zone.dirName, counts.get(baseId)! > 1 ? `${baseId}@${sysfsIndex}` : baseId];
    }),
  );
}
