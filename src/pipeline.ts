// One sample tick through the stages: devices -> energy -> attribution -> carbon -> telemetry.
// The daemon owns the timer; this file owns what a tick does, so tests can drive ticks directly.
import type { Logger } from 'pino';
import { countsAsRequest } from './attribution/activity.ts';
import type { Ledger, PriceShare, RequestEnergy } from './attribution/ledger.ts';
import type { CarbonAccountant, ShareFootprint } from './carbon/accountant.ts';
import { hostDevices, weakestMethod } from './devices/host.ts';
import type { Device, DeviceFailure, DeviceSource, MeasurementMethod, Reading, SampleResult } from './devices/source.ts';
import type { EnergyInterval, EnergyMeter, MeterStep } from './energy/meter.ts';
import { powerBoundWatts } from './energy/plausibility.ts';
import type { EnergySpanQueue } from './telemetry/energy-spans.ts';
import type { Publisher } from './telemetry/publisher.ts';
import type { SeriesStore } from './telemetry/series-store.ts';

export interface PipelineParts {
  sources: DeviceSource[];
  devices: Device[];
  /** The source that found each device (the inventory's, kept current by rediscovery). */
  owners: ReadonlyMap<string, DeviceSource>;
  meter: EnergyMeter;
  ledger: Ledger;
  accountant: CarbonAccountant;
  publisher: Publisher;
  store: SeriesStore;
  logger: Logger;
  /** Where each settled request's footprint.energy span goes, when traces are exported. */
  energySpans?: EnergySpanQueue | undefined;
}

/** The devices a tick reads and how they add up to hw.host.*. */
interface DeviceSet {
  sources: DeviceSource[];
  devices: Device[];
  byId: Map<string, Device>;
  /** The most power each device can draw (energy/plausibility.ts). */
  boundWatts: Map<string, number>;
  host: Device[];
  hostMethod: MeasurementMethod;
}

function deviceSet(sources: DeviceSource[], devices: Device[]): DeviceSet {
  const host = hostDevices(devices);
  return {
    sources: [...sources],
    devices: [...devices],
    byId: new Map(devices.map((device) => [device.id, device])),
    boundWatts: new Map(devices.map((device) => [device.id, powerBoundWatts(device)])),
    host,
    hostMethod: weakestMethod(host),
  };
}

export class Pipeline {
  readonly #parts: PipelineParts;
  #set: DeviceSet;
  /** A set given by setDevices, taken up at the start of the next tick so one tick never mixes two sets. */
  #nextSet: DeviceSet | undefined;
  /** Every device ever in a set: intervals of a device that left still close in the ledger after the lag. */
  readonly #everKnown = new Map<string, Device>();
  /**
   * The failure last logged per device, so a failing device is logged once per transition, not every
   * tick. The pipeline is the one owner of failure logs and counts: sources only report what happened.
   */
  readonly #loggedFailure = new Map<string, string>();
  /** A running sum of the host contributors' intervals, so it stays monotonic when the contributors change. */
  #hostJoules = 0;
  #ticks = 0;

  constructor(parts: PipelineParts) {
    this.#parts = parts;
    this.#set = this.#adopt(deviceSet(parts.sources, parts.devices));
  }

  /** What a share of a device's energy costs (the ledger prices spans with it when traces are exported). */
  readonly price: PriceShare = (share): ShareFootprint => {
    const device = this.#everKnown.get(share.deviceId)!;
    return this.#parts.accountant.account({ ...share, deviceType: device.type, deviceName: device.name });
  };

  /** The devices a request could take energy from: those its span named, else the host's devices (the ones attributed). */
  #devicesOf({ request }: RequestEnergy): Device[] {
    if (!request.deviceIds) return this.#set.host;
    return request.deviceIds.flatMap((id) => this.#everKnown.get(id) ?? []);
  }

  /**
   * Replaces the devices read from the next tick on (rediscovery found more). The energy meter, ledger
   * and series carry over: a joining device's first reading is its baseline, and hw.host.* keeps its
   * running sum while the contributors change (psys appearing makes it the host value from then on).
   * A device that leaves (an estimator class now measured) keeps its counters at their final values,
   * so sums over devices stay monotonic; its gauges are removed, as a frozen power would count twice.
   */
  setDevices(sources: DeviceSource[], devices: Device[]): void {
    this.#nextSet = deviceSet(sources, devices);
  }

  #adopt(next: DeviceSet): DeviceSet {
    for (const device of next.devices) this.#everKnown.set(device.id, device);
    this.#parts.accountant.useHostDevices(next.devices);
    return next;
  }

  #takeNextSet(): void {
    const previous = this.#set;
    this.#set = this.#adopt(this.#nextSet!);
    this.#nextSet = undefined;
    for (const device of previous.devices) {
      if (this.#set.byId.has(device.id)) continue;
      this.#parts.publisher.deviceRetired(device);
      this.#loggedFailure.delete(device.id);
    }
    const hostIds = (set: DeviceSet) => set.host.map((device) => device.id).join(', ');
    if (hostIds(previous) !== hostIds(this.#set) || previous.hostMethod !== this.#set.hostMethod) {
      this.#parts.logger.info(
        { hostDevices: this.#set.host.map((device) => device.id), method: this.#set.hostMethod },
        `hw.host.* now sums ${hostIds(this.#set)} (${this.#set.hostMethod})`,
      );
    }
  }

  get ticks(): number {
    return this.#ticks;
  }

  async tick(nowMs: number): Promise<void> {
    const { meter, ledger, accountant, publisher, store } = this.#parts;
    const startedMs = performance.now();
    if (this.#nextSet) this.#takeNextSet();
    const set = this.#set;
    const results = await Promise.all(set.sources.map((source) => this.#read(source, set.devices, nowMs)));

    const hostIds = new Set(set.host.map((device) => device.id));
    for (const { readings, failures } of results) {
      for (const failure of failures) this.#fail(set, failure, nowMs);
      for (const reading of readings) {
        const device = set.byId.get(reading.deviceId);
        if (!device) continue;
        const bound = set.boundWatts.get(device.id)!;
        const { interval, event } = meter.add(reading, bound);
        if (event === 'implausible') {
          this.#fail(
            set,
            {
              deviceId: device.id,
              errorType: 'implausible',
              message: `${describeReading(reading)} implies more than ${bound} W, the device's bound; it adds no energy`,
              fix: IMPLAUSIBLE_FIX,
            },
            nowMs,
          );
          continue;
        }
        this.#recover(device, nowMs);
        this.#note(device, event);
        // Only the host's devices are priced and attributed: a sub-zone's joules are already in its package's.
        if (interval && hostIds.has(device.id)) {
          ledger.addInterval(interval);
          publisher.deviceFootprint(device, accountant.account(this.#wholeShare(device, interval)), nowMs);
          this.#hostJoules += interval.energyJoules;
        }
        const energy = meter.energy(device.id)!;
        publisher.deviceEnergy(device, energy.totalJoules, energy.powerWatts, nowMs);
      }
    }
    const hostWatts = set.host.reduce((sum, device) => sum + (meter.energy(device.id)?.powerWatts ?? 0), 0);
    publisher.host(set.hostMethod, this.#hostJoules, hostWatts, nowMs);

    const closed = ledger.close(nowMs);
    for (const share of closed.shares) {
      const device = this.#everKnown.get(share.deviceId)!;
      publisher.workloadShare(share, device, this.price(share), nowMs);
    }
    // Requests and tokens count when their span is settled, with its energy, so grams per token hold over any window.
    for (const request of closed.requests) {
      if (!countsAsRequest(request.request)) continue;
      publisher.request(request, nowMs);
      this.#parts.energySpans?.add(request, this.#devicesOf(request));
    }
    for (const [deviceId, joules] of closed.unsettledJoules) publisher.unsettled(this.#everKnown.get(deviceId)!, joules, nowMs);
    publisher.truncatedEnergy(closed.truncatedJoules, nowMs);

    publisher.intensity(accountant.intensity(nowMs), nowMs);
    publisher.health(ledger.pendingIntervals, (performance.now() - startedMs) / 1000, nowMs);
    store.expire(nowMs);
    this.#ticks++;
  }

  #wholeShare(device: Device, interval: EnergyInterval) {
    return { ...interval, deviceType: device.type, deviceName: device.name, deviceSeconds: (interval.endMs - interval.startMs) / 1000 };
  }

  async #read(source: DeviceSource, devices: Device[], nowMs: number): Promise<SampleResult> {
    try {
      return await source.read(nowMs);
    } catch (error) {
      // Sources promise not to throw; if one does, exactly its devices fail this tick and the rest carry on.
      const message = `source ${source.name} threw: ${(error as Error).message}`;
      const owned = devices.filter((device) => this.#parts.owners.get(device.id) === source);
      if (owned.length === 0) this.#parts.logger.error({ source: source.name, err: error }, message);
      return {
        readings: [],
        failures: owned.map((device) => ({ deviceId: device.id, errorType: 'source_error', message, fix: 'report this as a footprint bug' })),
      };
    }
  }

  /** A failed read (or an implausible one): status failed, counted when the read was attempted, logged on a change of cause. */
  #fail(set: DeviceSet, failure: DeviceFailure, nowMs: number): void {
    const device = set.byId.get(failure.deviceId);
    if (!device) return;
    this.#parts.publisher.deviceStatus(device, false, nowMs);
    // A device backing off was not read this tick: hw.errors counts failed reads, not ticks.
    const backingOff = failure.retryAtMs !== undefined && failure.retryAtMs > nowMs;
    if (!backingOff) this.#parts.publisher.deviceError(device, failure.errorType, nowMs);
    if (this.#loggedFailure.get(device.id) !== failure.errorType) {
      this.#loggedFailure.set(device.id, failure.errorType);
      const retry = failure.retryAtMs === undefined ? 'retrying' : `next try in ${Math.max(0, Math.ceil((failure.retryAtMs - nowMs) / 1000))}s`;
      this.#parts.logger.warn(
        { hwId: device.id, errorType: failure.errorType, fix: failure.fix },
        `${device.id}: ${failure.message}${failure.fix ? ` (fix: ${failure.fix})` : ''}; ${retry}, other devices unaffected`,
      );
    }
  }

  /** Counter wraps, driver resets and gaps are normal but worth a line. */
  #note(device: Device, event: MeterStep['event']): void {
    if (event) this.#parts.logger.info({ hwId: device.id, event }, `${device.id}: energy ${event}`);
  }

  #recover(device: Device, nowMs: number): void {
    this.#parts.publisher.deviceStatus(device, true, nowMs);
    if (this.#loggedFailure.delete(device.id)) this.#parts.logger.info({ hwId: device.id }, `${device.id}: reading again`);
  }
}

const IMPLAUSIBLE_FIX = 'none needed if it is rare (a firmware or bus glitch); if it repeats, check the sensor (docs/methodology.md, implausible readings)';

function describeReading(reading: Reading): string {
  return reading.kind === 'power' ? `a power sample of ${reading.watts} W` : `counter value ${reading.value}`;
}
