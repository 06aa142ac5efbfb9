// Turns the series store into OpenTelemetry metric data for any MetricReader (the Prometheus
// exporter and the OTLP push). `naming` picks the OTel names for OTLP or the contract's Prometheus
// names for the scrape endpoint.
import { ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type CollectionResult, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { InstrumentSpec } from './contract.ts';
import type { SeriesPoint, SeriesStore } from './series-store.ts';

export type Naming = 'otel' | 'prometheus';

function descriptor(spec: InstrumentSpec, naming: Naming) {
  // The Prometheus exporter writes `# UNIT` lines; the unit is already in the name there.
  return naming === 'otel'
    ? { name: spec.name, description: spec.description, unit: spec.unit, valueType: ValueType.DOUBLE }
    : { name: spec.prometheusName, description: spec.description, unit: '', valueType: ValueType.DOUBLE };
}

function toMetricData(spec: InstrumentSpec, points: SeriesPoint[], naming: Naming, nowMs: number): MetricData {
  const endTime = millisToHrTime(nowMs);
  const base = { descriptor: descriptor(spec, naming), aggregationTemporality: AggregationTemporality.CUMULATIVE };
  const scalar = points.map((point) => ({ attributes: point.attributes, startTime: millisToHrTime(point.startTimeMs), endTime, value: point.value }));
  switch (spec.kind) {
    case 'counter':
      return { ...base, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: scalar };
    case 'updowncounter':
      return { ...base, dataPointType: DataPointType.SUM, isMonotonic: false, dataPoints: scalar };
    case 'gauge':
      return { ...base, dataPointType: DataPointType.GAUGE, dataPoints: scalar };
    case 'histogram':
      return {
        ...base,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: points
          .filter((point) => point.histogram)
          .map((point) => {
            const histogram = point.histogram!;
            return {
              attributes: point.attributes,
              startTime: millisToHrTime(point.startTimeMs),
              endTime,
              value: {
                buckets: { boundaries: [...(spec.boundaries ?? [])], counts: [...histogram.counts] },
                sum: histogram.sum,
                count: histogram.count,
                min: histogram.min,
                max: histogram.max,
              },
            };
          }),
      };
  }
}

export class StoreMetricProducer implements MetricProducer {
  readonly #store: SeriesStore;
  readonly #naming: Naming;
  readonly #scope: { name: string; version: string };
  readonly #beforeCollect: ((nowMs: number) => void) | undefined;

  /** `beforeCollect` refreshes series that are read at collection time (the process's own figures). */
  constructor(store: SeriesStore, naming: Naming, version: string, beforeCollect?: (nowMs: number) => void) {
    this.#store = store;
    this.#naming = naming;
    this.#scope = { name: 'footprint', version };
    this.#beforeCollect = beforeCollect;
  }

  async collect(): Promise<CollectionResult> {
    const nowMs = Date.now();
    this.#beforeCollect?.(nowMs);
    const metrics = this.#store.snapshot().map(({ spec, points }) => toMetricData(spec, points, this.#naming, nowMs));
    // Readers replace this resource with the MeterProvider's (host.name, service.version...).
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: this.#scope, metrics }] }, errors: [] };
  }
}
