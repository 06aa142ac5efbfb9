// The telemetry stage's input: what the pipeline measured, attributed and priced becomes series.
import type { AttributedEnergy, RequestEnergy } from '../attribution/ledger.ts';
import type { Workload } from '../attribution/activity.ts';
import type { IntensityStatus, ShareFootprint } from '../carbon/accountant.ts';
import type { ForecastSummary } from '../carbon/forecast.ts';
import type { Device, MeasurementMethod } from '../devices/source.ts';
import { METRICS, type InstrumentSpec } from './contract.ts';
import type { SenderAdvisory } from '../ingest/spans.ts';
import type { Attributes, SeriesStore } from './series-store.ts';

function deviceAttributes(device: Device) {
  return { 'hw.id': device.id, 'hw.type': device.type, 'hw.name': device.name, 'hw.vendor': device.vendor, 'measurement.method': device.method };
}

function workloadAttributes(workload: Workload, device: Device, podSeries: boolean) {
  return {
    'ml.model': workload.model,
    'ml.job': workload.job,
    'ml.phase': workload.phase,
    'hw.id': device.id,
    'hw.type': device.type,
    'k8s.namespace.name': workload.namespace,
    'k8s.pod.name': podSeries ? workload.pod : undefined,
  };
}

/** What the operator chose to publish (config podSeries, requestDurationBuckets, requestEnergyBuckets). */
export interface SeriesChoices {
  podSeries: boolean;
  requestDurationBuckets: number[];
  requestEnergyBuckets: number[];
}

export class Publisher {
  readonly #store: SeriesStore;
  readonly #currency: string;
  /** Whether a live intensity provider is configured, so a non-live value is a fallback. */
  readonly #liveProvider: boolean;
  readonly #podSeries: boolean;
  /** The request histograms with the configured bounds. */
  readonly #requestDuration: InstrumentSpec;
  readonly #requestEnergy: InstrumentSpec;

  constructor(store: SeriesStore, currency: string, liveProvider: boolean, choices: SeriesChoices) {
    this.#store = store;
    this.#currency = currency;
    this.#liveProvider = liveProvider;
    this.#podSeries = choices.podSeries;
    this.#requestDuration = { ...METRICS.mlRequestDuration, boundaries: choices.requestDurationBuckets };
    this.#requestEnergy = { ...METRICS.mlRequestEnergy, boundaries: choices.requestEnergyBuckets };
  }

  deviceEnergy(device: Device, totalJoules: number, powerWatts: number, nowMs: number): void {
    const attributes = deviceAttributes(device);
    this.#store.set(METRICS.hwEnergy, attributes, totalJoules, nowMs);
    this.#store.set(METRICS.hwPower, attributes, powerWatts, nowMs);
    if (device.powerLimitWatts !== undefined) this.#store.set(METRICS.hwPowerLimit, attributes, device.powerLimitWatts, nowMs);
  }

  deviceStatus(device: Device, ok: boolean, nowMs: number): void {
    this.#store.set(METRICS.hwStatus, { 'hw.id': device.id, 'hw.type': device.type, 'hw.state': 'ok' }, ok ? 1 : 0, nowMs);
    this.#store.set(METRICS.hwStatus, { 'hw.id': device.id, 'hw.type': device.type, 'hw.state': 'failed' }, ok ? 0 : 1, nowMs);
  }

  /**
   * A device no longer read (its class is measured now). Its counters keep their final values, so sums
   * over devices stay monotonic; its gauges go, as a frozen power would be counted twice.
   */
  deviceRetired(device: Device): void {
    const isDevice = (attributes: Attributes) => attributes['hw.id'] === device.id;
    for (const spec of [METRICS.hwPower, METRICS.hwPowerLimit, METRICS.hwStatus]) this.#store.remove(spec, isDevice);
  }

  deviceError(device: Device, errorType: string, nowMs: number): void {
    this.#store.add(METRICS.hwErrors, { 'hw.id': device.id, 'hw.type': device.type, 'error.type': errorType }, 1, nowMs);
  }

  host(method: MeasurementMethod, totalJoules: number, powerWatts: number, nowMs: number): void {
    this.#store.remove(METRICS.hostEnergy, (attributes) => attributes['measurement.method'] !== method);
    this.#store.remove(METRICS.hostPower, (attributes) => attributes['measurement.method'] !== method);
    this.#store.set(METRICS.hostEnergy, { 'measurement.method': method }, totalJoules, nowMs);
    this.#store.set(METRICS.hostPower, { 'measurement.method': method }, powerWatts, nowMs);
  }

  intensity(status: IntensityStatus, nowMs: number): void {
    const zoneSource = { 'carbon.zone': status.zone, 'carbon.source': status.source };
    // Only the value in use is published: a switch to the fallback replaces the live series.
    this.#store.remove(METRICS.carbonIntensity, () => true);
    this.#store.set(METRICS.carbonIntensity, { ...zoneSource, 'carbon.signal': status.signal }, status.gramsPerKwh, nowMs);
    this.#store.remove(METRICS.intensityAge, () => true);
    this.#store.set(METRICS.intensityAge, zoneSource, status.ageSeconds, nowMs);
    this.#store.remove(METRICS.intensityFallback, () => true);
    this.#store.set(METRICS.intensityFallback, zoneSource, this.#liveProvider && status.state !== 'live' ? 1 : 0, nowMs);
  }

  /** Replaces the forecast series: offsets past the forecast's end, or a changed source, leave no stale series. */
  forecast(source: { zone: string; source: string; signal: string }, summary: ForecastSummary, nowMs: number): void {
    const zoneSource = { 'carbon.zone': source.zone, 'carbon.source': source.source };
    for (const spec of [METRICS.forecastIntensity, METRICS.forecastBestStart, METRICS.forecastBestIntensity]) this.#store.remove(spec, () => true);
    for (const { offset, gramsPerKwh } of summary.offsets) {
      this.#store.set(METRICS.forecastIntensity, { ...zoneSource, 'carbon.signal': source.signal, 'forecast.offset': offset }, gramsPerKwh, nowMs);
    }
    for (const { duration, startInSeconds, gramsPerKwh } of summary.bestStarts) {
      this.#store.set(METRICS.forecastBestStart, { ...zoneSource, 'forecast.duration': duration }, startInSeconds, nowMs);
      this.#store.set(METRICS.forecastBestIntensity, { ...zoneSource, 'forecast.duration': duration }, gramsPerKwh, nowMs);
    }
  }

  deviceFootprint(device: Device, footprint: ShareFootprint, nowMs: number): void {
    const base = { 'hw.id': device.id, 'hw.type': device.type };
    this.#store.add(METRICS.carbonEmissions, { ...base, 'carbon.scope': 'operational' }, footprint.operationalGrams, nowMs);
    this.#store.add(METRICS.carbonEmissions, { ...base, 'carbon.scope': 'embodied' }, footprint.embodiedGrams, nowMs);
    this.#store.add(METRICS.energyCost, { ...base, currency: this.#currency, 'cost.kind': 'energy' }, footprint.energyCost, nowMs);
    this.#store.add(METRICS.energyCost, { ...base, currency: this.#currency, 'cost.kind': 'hardware' }, footprint.hardwareCost, nowMs);
  }

  workloadShare(share: AttributedEnergy, device: Device, footprint: ShareFootprint, nowMs: number): void {
    const attributes = workloadAttributes(share.workload, device, this.#podSeries);
    this.#store.add(METRICS.mlEnergy, attributes, share.energyJoules, nowMs);
    this.#store.add(METRICS.mlEmissions, { ...attributes, 'carbon.scope': 'operational' }, footprint.operationalGrams, nowMs);
    this.#store.add(METRICS.mlEmissions, { ...attributes, 'carbon.scope': 'embodied' }, footprint.embodiedGrams, nowMs);
    this.#store.add(METRICS.mlCost, { ...attributes, currency: this.#currency }, footprint.energyCost + footprint.hardwareCost, nowMs);
  }

  /** A settled request: counted, with its tokens, duration and energy, once all its intervals are split. */
  request({ request, energyJoules }: RequestEnergy, nowMs: number): void {
    const { model, job, phase } = request.workload;
    const operation = request.operation;
    const attributes = { 'ml.model': model, 'ml.job': job, 'ml.phase': phase, 'gen_ai.operation.name': operation };
    this.#store.add(METRICS.mlRequests, attributes, 1, nowMs);
    if (request.inputTokens !== undefined) this.#store.add(METRICS.mlTokens, { ...attributes, 'gen_ai.token.type': 'input' }, request.inputTokens, nowMs);
    if (request.outputTokens !== undefined) this.#store.add(METRICS.mlTokens, { ...attributes, 'gen_ai.token.type': 'output' }, request.outputTokens, nowMs);
    this.#store.observe(
      this.#requestDuration,
      { 'ml.model': model, 'ml.phase': phase, 'gen_ai.operation.name': operation },
      (request.endMs - request.startMs) / 1000,
      nowMs,
    );
    // The request's own span links its bucket to its trace (OpenMetrics exemplars).
    const exemplar =
      request.traceId !== undefined && request.spanId !== undefined
        ? { traceId: request.traceId, spanId: request.spanId, value: energyJoules, timeMs: request.endMs }
        : undefined;
    this.#store.observe(this.#requestEnergy, { 'ml.model': model, 'ml.phase': phase, 'gen_ai.operation.name': operation }, energyJoules, nowMs, exemplar);
  }

  /** A device's joules not yet in ml.energy: sum(ml.energy) + this == hw.energy for a host device. */
  unsettled(device: Device, joules: number, nowMs: number): void {
    this.#store.set(METRICS.unsettledEnergy, { 'hw.id': device.id, 'hw.type': device.type }, joules, nowMs);
  }

  truncatedEnergy(joules: number, nowMs: number): void {
    this.#store.add(METRICS.truncatedEnergy, {}, joules, nowMs);
  }

  ingestSpans(outcome: string, count: number, nowMs: number): void {
    this.#store.add(METRICS.ingestSpans, { outcome }, count, nowMs);
  }

  ingestAdvisory({ server, advisory, spans }: SenderAdvisory, nowMs: number): void {
    this.#store.add(METRICS.ingestAdvisories, { server, advisory }, spans, nowMs);
  }

  energySpansDropped(reason: string, count: number, nowMs: number): void {
    this.#store.add(METRICS.energySpansDropped, { reason }, count, nowMs);
  }

  ingestRefusal(reason: string, nowMs: number): void {
    this.#store.add(METRICS.ingestRefusals, { reason }, 1, nowMs);
  }

  health(pendingIntervals: number, sampleSeconds: number, nowMs: number): void {
    this.#store.set(METRICS.ledgerPending, {}, pendingIntervals, nowMs);
    this.#store.set(METRICS.sampleDuration, {}, sampleSeconds, nowMs);
  }

  overflow(metricName: string, nowMs: number): void {
    this.#store.add(METRICS.seriesOverflow, { metric: metricName }, 1, nowMs);
  }
}
