// One sample tick through the stages: devices -> energy -> attribution -> carbon -> telemetry.
// The daemon owns the timer; this file owns what a tick does, so tests can drive ticks directly.
import type { Logger } from 'pino';
import type { Ledger } from './attribution/ledger.ts';
import type { CarbonAccountant } from './carbon/accountant.ts';
import type { Device, DeviceFailure, DeviceSource, MeasurementMethod, SampleResult } from './devices/source.ts';
import type { EnergyInterval, EnergyMeter } from './energy/meter.ts';
import type { Publisher } from './telemetry/publisher.ts';
import type { SeriesStore } from './telemetry/series-store.ts';

export interface PipelineParts {
  sources: DeviceSource[];
  devices: Device[];
  meter: EnergyMeter;
  ledger: Ledger;
  accountant: CarbonAccountant;
  publisher: Publisher;
  store: SeriesStore;
  logger: Logger;
}

const METHOD_TRUST: Record<MeasurementMethod, number> = { model: 0, power: 1, counter: 2 };

/** Devices whose energy makes up hw.host.*: psys when present, else the non-overlapping parts; plus external boards. */
export function hostDevices(devices: Device[]): Device[] {
  const hasWhole = devices.some((device) => device.hostRole === 'whole');
  return devices.filter((device) => device.hostRole === 'external' || device.hostRole === (hasWhole ? 'whole' : 'part'));
}

/** The host figure is only as trustworthy as its weakest contributor. */
export function weakestMethod(devices: Device[]): MeasurementMethod {
  return devices.reduce<MeasurementMethod>((weakest, device) => (METHOD_TRUST[device.method] < METHOD_TRUST[weakest] ? device.method : weakest), 'counter');
}

export class Pipeline {
  readonly #parts: PipelineParts;
  readonly #devicesById: Map<string, Device>;
  readonly #hostDevices: Device[];
  readonly #hostMethod: MeasurementMethod;
  /** The failure last logged per device, so a failing device is logged once, not every tick. */
  readonly #loggedFailure = new Map<string, string>();
  #hostJoules = 0;
  #ticks = 0;

  constructor(parts: PipelineParts) {
    this.#parts = parts;
    this.#devicesById = new Map(parts.devices.map((device) => [device.id, device]));
    this.#hostDevices = hostDevices(parts.devices);
    this.#hostMethod = weakestMethod(this.#hostDevices);
    parts.accountant.useHostDevices(parts.devices);
  }

  get ticks(): number {
    return this.#ticks;
  }

  async tick(nowMs: number): Promise<void> {
    const { meter, ledger, accountant, publisher, store } = this.#parts;
    const startedMs = performance.now();
    const results = await Promise.all(this.#parts.sources.map((source) => this.#read(source, nowMs)));

    const hostIds = new Set(this.#hostDevices.map((device) => device.id));
    for (const { readings, failures } of results) {
      for (const failure of failures) this.#fail(failure, nowMs);
      for (const reading of readings) {
        const device = this.#devicesById.get(reading.deviceId);
        if (!device) continue;
        this.#recover(device, nowMs);
        const interval = meter.add(reading);
        if (interval) {
          ledger.addInterval(interval);
          publisher.deviceFootprint(device, accountant.account(this.#wholeShare(device, interval)), nowMs);
          if (hostIds.has(device.id)) this.#hostJoules += interval.energyJoules;
        }
        const energy = meter.energy(device.id)!;
        publisher.deviceEnergy(device, energy.totalJoules, energy.powerWatts, nowMs);
      }
    }
    const hostWatts = this.#hostDevices.reduce((sum, device) => sum + (meter.energy(device.id)?.powerWatts ?? 0), 0);
    publisher.host(this.#hostMethod, this.#hostJoules, hostWatts, nowMs);

    const closed = ledger.close(nowMs);
    for (const share of closed.shares) {
      const device = this.#devicesById.get(share.deviceId)!;
      const footprint = accountant.account({ ...share, deviceType: device.type, deviceName: device.name });
      publisher.workloadShare(share, device, footprint, nowMs);
    }
    for (const request of closed.requests) publisher.requestEnergy(request, nowMs);

    publisher.intensity(accountant.intensity(nowMs), nowMs);
    publisher.health(ledger.pendingIntervals, (performance.now() - startedMs) / 1000, nowMs);
    store.expire(nowMs);
    this.#ticks++;
  }

  #wholeShare(device: Device, interval: EnergyInterval) {
    return { ...interval, deviceType: device.type, deviceName: device.name, deviceSeconds: (interval.endMs - interval.startMs) / 1000 };
  }

  async #read(source: DeviceSource, nowMs: number): Promise<SampleResult> {
    try {
      return await source.read(nowMs);
    } catch (error) {
      // Sources promise not to throw; if one does, its devices fail this tick and the rest carry on.
      const message = `source ${source.name} threw: ${(error as Error).message}`;
      const failures: DeviceFailure[] = this.#parts.devices
        .filter((device) => device.id.startsWith(`${source.name}:`))
        .map((device) => ({ deviceId: device.id, errorType: 'source_error', message }));
      if (failures.length === 0) this.#parts.logger.error({ source: source.name, err: error }, message);
      return { readings: [], failures };
    }
  }

  #fail(failure: DeviceFailure, nowMs: number): void {
    const device = this.#devicesById.get(failure.deviceId);
    if (!device) return;
    this.#parts.publisher.deviceStatus(device, false, nowMs);
    this.#parts.publisher.deviceError(device, failure.errorType, nowMs);
    if (this.#loggedFailure.get(device.id) !== failure.errorType) {
      this.#loggedFailure.set(device.id, failure.errorType);
      this.#parts.logger.warn({ hwId: device.id, errorType: failure.errorType, fix: failure.fix }, `${device.id}: ${failure.message}${failure.fix ? ` (fix: ${failure.fix})` : ''}; retrying, other devices unaffected`);
    }
  }

  #recover(device: Device, nowMs: number): void {
    this.#parts.publisher.deviceStatus(device, true, nowMs);
    if (this.#loggedFailure.delete(device.id)) this.#parts.logger.info({ hwId: device.id }, `${device.id}: reading again`);
  }
}
