// AMD GPUs through the amdgpu driver's hwmon: `power1_average` (or `power1_input` on boards that only
// report an instant value) in microwatts, integrated to energy by the energy stage. Found through
// /sys/class/drm so each sensor has its GPU identity; the hwmon source skips `amdgpu` chips for this.
import { readdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { keepKnown, type Device, type DeviceSource, type Discovery, type SampleResult, type SourceProblem } from './source.ts';
import { classifyReadError, hostPath, readOptionalTrimmed, readOptionalUnsigned, readTextFile, readUnsigned, type FileReader } from './sysfs-read.ts';
import { microwattsToWatts, naturalOrder } from './units.ts';

export interface AmdGpuSourceOptions {
  hostRoot: string;
  /** Replaces file reads (tests inject errors root never gets). */
  reader?: FileReader;
}

const DRM_DIR = 'sys/class/drm';
/** `card0`, not the connectors (`card0-DP-1`) nor render nodes. */
const CARD_DIR = /^card\d+$/;
const HWMON_DIR = /^hwmon\d+$/;
/** Preferred first: the driver's own average is steadier than one instant sample. */
const POWER_FILES = ['power1_average', 'power1_input'];

const PERMISSION_FIX = 'run footprint as root or grant read on the amdgpu hwmon power file (a udev rule or `chmod a+r` at boot)';
const GONE_FIX = 'the board was removed or amdgpu is reloading; footprint looks the file up again every tick (check `dmesg` if it stays gone)';
const NO_SENSOR_FIX = 'amdgpu reports board power from Linux 4.17 on; update the kernel or the amdgpu driver (ROCm DKMS)';

interface Card {
  device: Device;
  /** `<card>/device`, where the hwmon directory is looked up again after a driver reload renumbers it. */
  deviceDir: string;
  powerPath: string | undefined;
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort(naturalOrder);
  } catch {
    return [];
  }
}

export class AmdGpuSource implements DeviceSource {
  readonly name = 'amdgpu';
  readonly rediscoverable = true;
  readonly #hostRoot: string;
  readonly #reader: FileReader;
  #cards: Card[] = [];

  constructor(options: AmdGpuSourceOptions) {
    this.#hostRoot = options.hostRoot;
    this.#reader = options.reader ?? readTextFile;
  }

  async discover(): Promise<Discovery> {
    const drmDir = hostPath(this.#hostRoot, DRM_DIR);
    const cards: Card[] = [];
    const problems: SourceProblem[] = [];
    for (const cardName of (await listDir(drmDir)).filter((name) => CARD_DIR.test(name))) {
      const deviceDir = join(drmDir, cardName, 'device');
      const hwmonDir = await this.#amdgpuHwmon(deviceDir);
      if (!hwmonDir) continue;
      const powerPath = await this.#powerFile(hwmonDir);
      if (!powerPath) {
        const message = `${cardName}: amdgpu reports no ${POWER_FILES.join(' or ')} in ${hwmonDir}`;
        problems.push({ source: this.name, message, fix: NO_SENSOR_FIX });
        continue;
      }
      const capMicrowatts = await readOptionalUnsigned(this.#reader, join(hwmonDir, 'power1_cap'));
      const device: Device = {
        id: await this.#identity(deviceDir),
        type: 'gpu',
        name: (await readOptionalTrimmed(this.#reader, join(deviceDir, 'product_name'))) || 'AMD GPU',
        vendor: 'amd',
        method: 'power',
        hostRole: 'external',
        ...(capMicrowatts ? { powerLimitWatts: microwattsToWatts(capMicrowatts) } : {}),
        info: { card: cardName, sensor: powerPath },
      };
      cards.push({ device, deviceDir, powerPath });
    }
    this.#cards = keepKnown(this.#cards, cards, (known) => known.device.id);
    return { devices: cards.map((card) => card.device), problems };
  }

  async read(nowMs: number): Promise<SampleResult> {
    const result: SampleResult = { readings: [], failures: [] };
    await Promise.all(
      this.#cards.map(async (card) => {
        const deviceId = card.device.id;
        card.powerPath ??= await this.#rediscoverPowerFile(card.deviceDir);
        const path = card.powerPath;
        if (!path) {
          result.failures.push({ deviceId, errorType: 'not_found', message: `${card.deviceDir}: the amdgpu hwmon power file is gone`, fix: GONE_FIX });
          return;
        }
        try {
          result.readings.push({ kind: 'power', deviceId, timeMs: nowMs, watts: microwattsToWatts(await readUnsigned(this.#reader, path)) });
        } catch (error) {
          // A driver reload renumbers hwmon directories: look the file up again next time.
          card.powerPath = undefined;
          result.failures.push({ deviceId, ...classifyReadError(error, path, PERMISSION_FIX) });
        }
      }),
    );
    return result;
  }

  /** The card's hwmon directory when the card is driven by amdgpu (other GPUs have other sources). */
  async #amdgpuHwmon(deviceDir: string): Promise<string | undefined> {
    const hwmonRoot = join(deviceDir, 'hwmon');
    for (const name of (await listDir(hwmonRoot)).filter((entry) => HWMON_DIR.test(entry))) {
      const dir = join(hwmonRoot, name);
      if ((await readOptionalTrimmed(this.#reader, join(dir, 'name'))) === 'amdgpu') return dir;
    }
    return undefined;
  }

  async #powerFile(hwmonDir: string): Promise<string | undefined> {
    const present = new Set(await listDir(hwmonDir));
    const file = POWER_FILES.find((candidate) => present.has(candidate));
    return file && join(hwmonDir, file);
  }

  async #rediscoverPowerFile(deviceDir: string): Promise<string | undefined> {
    const hwmonDir = await this.#amdgpuHwmon(deviceDir);
    return hwmonDir && this.#powerFile(hwmonDir);
  }

  /** The board's serial (`unique_id`, Vega and newer) when exposed, else its PCI address. */
  async #identity(deviceDir: string): Promise<string> {
    const uniqueId = await readOptionalTrimmed(this.#reader, join(deviceDir, 'unique_id'));
    if (uniqueId) return uniqueId;
    try {
      return basename(await readlink(deviceDir));
    } catch {
      // Not a symlink (a flattened copy of sysfs): the card directory still names one board.
      return basename(join(deviceDir, '..'));
    }
  }
}
