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

/** One metric as collected: its spec, its data, and the store points behind the data points, in their order. */
export interface CollectedMetric {
  spec: InstrumentSpec;
  data: MetricData;
  points: SeriesPoint[];
}

function collectMetric(spec: InstrumentSpec, points: SeriesPoint[], naming: Naming, nowMs: number): CollectedMetric {
  // A histogram series exists from its first observation, but only one with observations is a data point.
  const exported = spec.kind === 'histogram' ? points.filter((point) => point.histogram) : points;
  return { spec, data: toMetricData(spec, exported, naming, nowMs), points: exported };
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
        dataPoints: points.map((point) => {
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

  get scope(): { name: string; version: string } {
    return this.#scope;
  }

  /** Every metric of the store now, with the points behind its data (the OpenMetrics exposition reads their exemplars). */
  collectMetrics(): CollectedMetric[] {
    const nowMs = Date.now();
    this.#beforeCollect?.(nowMs);
    return this.#store.snapshot().map(({ spec, points }) => collectMetric(spec, points, this.#naming, nowMs));
  }

  async collect(): Promise<CollectionResult> {
    const metrics = this.collectMetrics().map(({ data }) => data);
    // Readers replace this resource with the MeterProvider's (host.name, service.version...).
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: this.#scope, metrics }] }, errors: [] };
  }
}
