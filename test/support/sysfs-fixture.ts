// Builds fixture sysfs/procfs trees in a temp dir, laid out like the kernel's (class entries are
// symlinks into /sys/devices), so the daemon, node_exporter and unit tests can all read them
// through --host-root. Tests rewrite files between samples; writes are atomic (write + rename) so a
// daemon reading concurrently never sees a half-written counter.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { readTextFile, type FileReader } from '../../src/devices/sysfs-read.ts';

/** The value real Intel server packages report for max_energy_range_uj (2^32 energy units of 61 µJ). */
export const DEFAULT_MAX_ENERGY_RANGE_UJ = 262_143_328_850;

interface RaplZoneFixture {
  /** The zone's `name`: `package-0`, `dram`, `core`, `uncore`, `psys`. */
  name: string;
  energyMicrojoules: number;
  /** Default DEFAULT_MAX_ENERGY_RANGE_UJ. */
  maxEnergyRangeMicrojoules?: number;
  /** Written as `constraint_0_power_limit_uw`. */
  powerLimitMicrowatts?: number;
  /** Written as `constraint_0_max_power_uw`. */
  maxPowerMicrowatts?: number;
}

interface HwmonFixture {
  /** The chip's `name` file: `acpi_power_meter`, `amd_energy`, `ina3221`... */
  name: string;
  /** Basename of the chip's `device` link target (`ACPI000D:00`, `1-0040`); omitted: no `device` link. */
  device?: string;
  /** Sensor files, e.g. `{ power1_average: 125_000_000, power1_label: 'Pwr' }`. */
  files: Record<string, string | number>;
}

/** A GPU card under /sys/class/drm whose `device` links to its PCI device, with the driver's hwmon chip below it. */
interface DrmCardFixture {
  /** The hwmon chip's `name`: `amdgpu`, or another GPU driver's (`i915`) that the amdgpu source must skip. */
  driver: string;
  /** The chip's directory under the PCI device (`hwmon3`); default `hwmon<N>` for `cardN`. */
  hwmonDir?: string;
  /** Sensor files of the chip, e.g. `{ power1_average: 250_000_000, power1_cap: 750_000_000 }` (µW). */
  hwmonFiles: Record<string, string | number>;
  /** The board's `unique_id` (amdgpu's hw.id when present, else the PCI address). */
  uniqueId?: string;
  productName?: string;
}

/** Jiffies of one CPU, as in a `cpuN` line of /proc/stat. */
interface CpuTimesFixture {
  user: number;
  nice?: number;
  system: number;
  idle: number;
  iowait?: number;
  irq?: number;
  softirq?: number;
  steal?: number;
}

export interface SysfsFixture {
  /** The host root to pass as `hostRoot` / `--host-root`. */
  root: string;
  /** Reads real files, but throws a NodeJS `EACCES` error for paths given to makeUnreadable (tests run as root). */
  reader: FileReader;
  /** Adds a RAPL zone: `intel-rapl:0` (package, psys) or `intel-rapl:0:0` (sub-zone; add its package first). */
  addRaplZone(zoneDir: string, zone: RaplZoneFixture): void;
  setEnergy(zoneDir: string, microjoules: number): void;
  /** Adds a hwmon chip as `sys/class/hwmon/<hwmonDir>` (`hwmon0`). */
  addHwmon(hwmonDir: string, chip: HwmonFixture): void;
  /**
   * Adds an amdgpu board as `sys/class/drm/<card>` with its hwmon `power1_average` in µW; its hw.id is
   * `uniqueId` when given (the board's `unique_id`), else the PCI address.
   */
  addAmdGpu(card: string, pciAddress: string, board: { powerMicrowatts: number; uniqueId?: string; productName?: string }): void;
  /** Adds any GPU card as `sys/class/drm/<card>` (addAmdGpu is the constant-power amdgpu case of it). */
  addDrmCard(card: string, pciAddress: string, board: DrmCardFixture): void;
  /** Adds a connector (`card1-DP-1`) or render node (`renderD128`) of a card's PCI device: drm entries that are not cards. */
  addDrmNode(name: string, pciAddress: string): void;
  /** Rewrites one sensor file of a chip: `setHwmonValue('hwmon0', 'power1_average', 118_000_000)`. */
  setHwmonValue(hwmonDir: string, file: string, value: string | number): void;
  /** Writes /proc/cpuinfo with this `vendor_id` (`GenuineIntel`, `AuthenticAMD`) for each of `cpuCount` CPUs. */
  setCpuVendor(vendorId: string, cpuCount?: number): void;
  /** Writes /proc/stat: the aggregate `cpu` line is the sum of the given per-CPU lines. */
  setCpuTimes(perCpu: CpuTimesFixture[]): void;
  /** Writes /proc/meminfo with this MemTotal in KiB. */
  setMemTotal(kibibytes: number): void;
  /** Writes any file under the root (relative path, no leading slash). */
  writeFile(relativePath: string, content: string | number): void;
  /** Deletes a file: later reads see a real ENOENT, for in-process and out-of-process readers alike. */
  removeFile(relativePath: string): void;
  /** Makes `reader` throw EACCES for this path, as energy_uj does for non-root readers. */
  makeUnreadable(relativePath: string): void;
  makeReadable(relativePath: string): void;
  /** Absolute path of a file under the root. */
  path(relativePath: string): string;
  /** Deletes the whole tree. */
  remove(): void;
}

const CPU_TIME_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

function permissionDenied(absolutePath: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`EACCES: permission denied, open '${absolutePath}'`);
  error.code = 'EACCES';
  error.errno = -13;
  error.syscall = 'open';
  error.path = absolutePath;
  return error;
}

export function createSysfsFixture(): SysfsFixture {
  const root = mkdtempSync(join(tmpdir(), 'footprint-sysfs-'));
  const unreadable = new Set<string>();
  const path = (relativePath: string) => join(root, relativePath);

  function writeFile(relativePath: string, content: string | number): void {
    const target = path(relativePath);
    mkdirSync(dirname(target), { recursive: true });
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, `${content}\n`);
    renameSync(temporary, target);
  }

  /** A kernel-style relative symlink `linkPath -> targetPath` (both relative to the root). */
  function link(linkPath: string, targetPath: string): void {
    mkdirSync(dirname(path(linkPath)), { recursive: true });
    mkdirSync(path(targetPath), { recursive: true });
    symlinkSync(relative(dirname(path(linkPath)), path(targetPath)), path(linkPath));
  }

  const pciDeviceDir = (pciAddress: string) => `sys/devices/pci0000:00/${pciAddress}`;

  function addDrmCard(card: string, pciAddress: string, board: DrmCardFixture): void {
    const deviceDir = pciDeviceDir(pciAddress);
    const chipDir = `${deviceDir}/hwmon/${board.hwmonDir ?? `hwmon${card.replace(/\D/g, '')}`}`;
    link(`sys/class/drm/${card}/device`, deviceDir);
    writeFile(`${chipDir}/name`, board.driver);
    for (const [file, value] of Object.entries(board.hwmonFiles)) writeFile(`${chipDir}/${file}`, value);
    if (board.uniqueId) writeFile(`${deviceDir}/unique_id`, board.uniqueId);
    if (board.productName) writeFile(`${deviceDir}/product_name`, board.productName);
  }

  const raplClassDir = (zoneDir: string) => `sys/class/powercap/${zoneDir}`;
  const hwmonClassDir = (hwmonDir: string) => `sys/class/hwmon/${hwmonDir}`;

  return {
    root,
    reader: async (absolutePath) => {
      if (unreadable.has(absolutePath)) throw permissionDenied(absolutePath);
      return readTextFile(absolutePath);
    },

    addRaplZone(zoneDir, zone) {
      const controlType = 'sys/devices/virtual/powercap/intel-rapl';
      if (!existsSync(path('sys/class/powercap/intel-rapl'))) {
        // The control-type directory: present on real machines, has no `name`, must be ignored.
        writeFile(`${controlType}/enabled`, 1);
        link('sys/class/powercap/intel-rapl', controlType);
      }
      const parentDir = zoneDir.split(':').length > 2 ? zoneDir.slice(0, zoneDir.lastIndexOf(':')) : undefined;
      const deviceDir = parentDir ? `${controlType}/${parentDir}/${zoneDir}` : `${controlType}/${zoneDir}`;
      link(raplClassDir(zoneDir), deviceDir);
      writeFile(`${deviceDir}/name`, zone.name);
      writeFile(`${deviceDir}/energy_uj`, zone.energyMicrojoules);
      writeFile(`${deviceDir}/max_energy_range_uj`, zone.maxEnergyRangeMicrojoules ?? DEFAULT_MAX_ENERGY_RANGE_UJ);
      writeFile(`${deviceDir}/enabled`, 1);
      if (zone.powerLimitMicrowatts !== undefined) writeFile(`${deviceDir}/constraint_0_power_limit_uw`, zone.powerLimitMicrowatts);
      if (zone.maxPowerMicrowatts !== undefined) writeFile(`${deviceDir}/constraint_0_max_power_uw`, zone.maxPowerMicrowatts);
    },

    setEnergy(zoneDir, microjoules) {
      writeFile(`${raplClassDir(zoneDir)}/energy_uj`, microjoules);
    },

    addHwmon(hwmonDir, chip) {
      const deviceDir = chip.device ? `sys/devices/platform/${chip.device}` : undefined;
      const chipDir = deviceDir ? `${deviceDir}/hwmon/${hwmonDir}` : `sys/devices/virtual/hwmon/${hwmonDir}`;
      link(hwmonClassDir(hwmonDir), chipDir);
      if (deviceDir) link(`${chipDir}/device`, deviceDir);
      writeFile(`${chipDir}/name`, chip.name);
      for (const [file, value] of Object.entries(chip.files)) writeFile(`${chipDir}/${file}`, value);
    },

    addAmdGpu(card, pciAddress, board) {
      addDrmCard(card, pciAddress, {
        driver: 'amdgpu',
        hwmonFiles: { power1_average: board.powerMicrowatts },
        uniqueId: board.uniqueId,
        productName: board.productName,
      });
    },

    addDrmCard,

    addDrmNode(name, pciAddress) {
      link(`sys/class/drm/${name}`, `${pciDeviceDir(pciAddress)}/drm/${name}`);
    },

    setHwmonValue(hwmonDir, file, value) {
      writeFile(`${hwmonClassDir(hwmonDir)}/${file}`, value);
    },

    setCpuVendor(vendorId, cpuCount = 1) {
      const blocks = Array.from({ length: cpuCount }, (_, cpu) => `processor\t: ${cpu}\nvendor_id\t: ${vendorId}\nmodel name\t: fixture CPU\n`);
      writeFile('proc/cpuinfo', blocks.join('\n'));
    },

    setCpuTimes(perCpu) {
      const line = (label: string, times: CpuTimesFixture) => `${label} ${CPU_TIME_FIELDS.map((field) => times[field] ?? 0).join(' ')} 0 0`;
      const total = Object.fromEntries(
        CPU_TIME_FIELDS.map((field) => [field, perCpu.reduce((sum, times) => sum + (times[field] ?? 0), 0)]),
      ) as unknown as CpuTimesFixture;
      const lines = [line('cpu ', total), ...perCpu.map((times, cpu) => line(`cpu${cpu}`, times)), 'intr 0', 'ctxt 0', 'btime 0'];
      writeFile('proc/stat', lines.join('\n'));
    },

    setMemTotal(kibibytes) {
      writeFile('proc/meminfo', `MemTotal:       ${kibibytes} kB\nMemFree:        ${Math.floor(kibibytes / 2)} kB`);
    },

    writeFile,
    removeFile(relativePath) {
      unlinkSync(path(relativePath));
    },
    makeUnreadable(relativePath) {
      unreadable.add(path(relativePath));
    },
    makeReadable(relativePath) {
      unreadable.delete(path(relativePath));
    },
    path,
    remove() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * The standard host: a two-socket Intel server as the kernel lays it out (powercap `intel-rapl:N`
 * packages, each with its `dram` sub-zone at `intel-rapl:N:0`), 8 CPUs, 64 GiB of memory. Counters
 * stay where they are unless a test moves them.
 */
export function addStandardHost(fixture: SysfsFixture): void {
  fixture.setCpuVendor('GenuineIntel', 8);
  fixture.setMemTotal(64 * 1024 * 1024);
  for (const socket of [0, 1]) {
    fixture.addRaplZone(`intel-rapl:${socket}`, {
      name: `package-${socket}`,
      energyMicrojoules: 1_000_000_000 * (socket + 1),
      powerLimitMicrowatts: 270_000_000,
    });
    fixture.addRaplZone(`intel-rapl:${socket}:0`, { name: 'dram', energyMicrojoules: 100_000_000 * (socket + 1) });
  }
}
