// The energy of each settled request written onto its own trace: one `footprint.energy` span, a child
// of the request's span over the same interval, carrying the joules, grams CO2e and cost the metrics
// count for it. Spans wait in a bounded queue and go out in batches through an OTel span exporter;
// a failed export keeps its spans at the head of the queue and is retried with exponential backoff,
// so a receiver that is down loses only what does not fit the queue, and that is counted.
import { randomBytes } from 'node:crypto';
import { type Attributes, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, hrTimeDuration, millisToHrTime, type ExportResult } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { RequestEnergy } from '../attribution/ledger.ts';
import type { Device } from '../devices/source.ts';

const ENERGY_SPAN_NAME = 'footprint.energy';

/** The span's attributes, named after the metrics that count the same quantities (docs/api.md "Energy on the trace"). */
const ENERGY_SPAN_ATTRIBUTES = {
  /** Joules, as ml_request_energy_joules observed them. */
  energy: 'ml.energy',
  /** Grams CO2e, as ml_emissions_grams_total{carbon_scope} counts them. */
  operationalGrams: 'ml.emissions.operational',
  embodiedGrams: 'ml.emissions.embodied',
  /** Energy and hardware cost, as ml_cost_total counts it, in `ml.cost.currency`. */
  cost: 'ml.cost.amount',
  currency: 'ml.cost.currency',
  /** The devices whose energy it took (hw.id), and whether all of them were measured or some estimated. */
  devices: 'hw.id',
  method: 'measurement.method',
  model: 'ml.model',
  job: 'ml.job',
  phase: 'ml.phase',
  operation: 'gen_ai.operation.name',
} as const;

export interface EnergySpanQueueOptions {
  exporter: SpanExporter;
  /** footprint's own resource (service.name footprint, host.name...): the span is footprint's, in the request's trace. */
  resource: Resource;
  version: string;
  currency: string;
  /** Spans held at most; past it new ones are dropped (config `tracesQueueSize`). */
  maxQueueSpans: number;
  /** Spans per export (the OTel SDK's BatchSpanProcessor default is 512). */
  maxBatchSpans?: number;
  /** How long a batch waits to fill before it goes out. */
  scheduledDelayMs?: number;
  /** The wait after a failed export; doubles with each failure in a row, up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Told of spans dropped, by reason (queue_full, shutdown). */
  onDropped: (reason: 'queue_full' | 'shutdown', count: number) => void;
  logger: Logger;
}

const ZERO_SPAN_ID = '0000000000000000';

/** A new span id: 8 random bytes, never the invalid all-zero id. */
function newSpanId(): string {
  for (;;) {
    const id = randomBytes(8).toString('hex');
    if (id !== ZERO_SPAN_ID) return id;
  }
}

/** `measured` when every device was read (counters or power), `estimated` when one was modelled. */
function methodOf(devices: readonly Device[]): 'measured' | 'estimated' {
  return devices.some((device) => device.method === 'model') ? 'estimated' : 'measured';
}

export class EnergySpanQueue {
  readonly #options: Required<Omit<EnergySpanQueueOptions, 'resource'>> & { resource: Resource };
  readonly #scope: { name: string; version: string };
  #queue: ReadableSpan[] = [];
  #timer: NodeJS.Timeout | undefined;
  #exporting: Promise<void> | undefined;
  #backoffMs: number;
  #failing = false;
  #closed = false;

  constructor(options: EnergySpanQueueOptions) {
    this.#options = { maxBatchSpans: 512, scheduledDelayMs: 1000, initialBackoffMs: 1000, maxBackoffMs: 60_000, ...options };
    this.#scope = { name: 'footprint', version: options.version };
    this.#backoffMs = this.#options.initialBackoffMs;
  }

  /** Spans waiting for the receiver. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues the `footprint.energy` span of a settled request; one without trace ids has no trace to join. */
  add({ request, energyJoules, footprint }: RequestEnergy, devices: readonly Device[]): void {
    if (this.#closed || request.traceId === undefined || request.spanId === undefined) return;
    if (this.#queue.length >= this.#options.maxQueueSpans) {
      this.#options.onDropped('queue_full', 1);
      return;
    }
    const names = ENERGY_SPAN_ATTRIBUTES;
    const attributes: Attributes = {
      [names.energy]: energyJoules,
      [names.devices]: devices.map((device) => device.id),
      [names.method]: methodOf(devices),
    };
    if (footprint) {
      attributes[names.operationalGrams] = footprint.operationalGrams;
      attributes[names.embodiedGrams] = footprint.embodiedGrams;
      attributes[names.cost] = footprint.energyCost + footprint.hardwareCost;
      attributes[names.currency] = this.#options.currency;
    }
    const { model, job, phase } = request.workload;
    if (model !== undefined) attributes[names.model] = model;
    if (job !== undefined) attributes[names.job] = job;
    if (phase !== undefined) attributes[names.phase] = phase;
    if (request.operation !== undefined) attributes[names.operation] = request.operation;
    const traceId = request.traceId;
    const spanContext = { traceId, spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED };
    const startTime = millisToHrTime(request.startMs);
    const endTime = millisToHrTime(request.endMs);
    this.#queue.push({
      name: ENERGY_SPAN_NAME,
      kind: SpanKind.INTERNAL,
      spanContext: () => spanContext,
      parentSpanContext: { traceId, spanId: request.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true },
      startTime,
      endTime,
      duration: hrTimeDuration(startTime, endTime),
      status: { code: SpanStatusCode.UNSET },
      attributes,
      links: [],
      events: [],
      ended: true,
      resource: this.#options.resource,
      instrumentationScope: this.#scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    });
    this.#schedule(this.#queue.length >= this.#options.maxBatchSpans ? 0 : this.#options.scheduledDelayMs);
  }

  /** Sends what is queued (one last try each batch), counts what stays as dropped, and shuts the exporter down. */
  async shutdown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#exporting;
    while (this.#queue.length > 0 && (await this.#exportBatch())) {}
    if (this.#queue.length > 0) this.#options.onDropped('shutdown', this.#queue.length);
    this.#queue = [];
    await this.#options.exporter.shutdown();
  }

  #schedule(delayMs: number): void {
    // A pending timer stands, unless a full batch may go sooner; while the receiver fails, the backoff stands.
    if (this.#closed || this.#exporting || (this.#timer && (delayMs > 0 || this.#failing))) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#exporting = this.#exportBatch().then((exported) => {
        this.#exporting = undefined;
        if (this.#queue.length === 0) return;
        // A failure waits out the backoff; a success goes on at once while full batches wait.
        if (!exported) {
          this.#schedule(this.#backoffMs);
          this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs);
        } else this.#schedule(this.#queue.length >= this.#options.maxBatchSpans ? 0 : this.#options.scheduledDelayMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  /** Exports the head of the queue; on success drops it from the queue. Whether it went out. */
  async #exportBatch(): Promise<boolean> {
    const batch = this.#queue.slice(0, this.#options.maxBatchSpans);
    const result = await new Promise<ExportResult>((resolve) => {
      try {
        this.#options.exporter.export(batch, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
    if (result.code === ExportResultCode.SUCCESS) {
      // Spans only join at the tail, so the batch is still the head.
      this.#queue.splice(0, batch.length);
      if (this.#failing) this.#options.logger.info({ queued: this.#queue.length }, 'trace export: the receiver takes spans again');
      this.#failing = false;
      this.#backoffMs = this.#options.initialBackoffMs;
      return true;
    }
    if (!this.#failing) {
      this.#options.logger.warn(
        { err: result.error, queued: this.#queue.length },
        'trace export failed; footprint.energy spans wait in the queue and are retried with backoff',
      );
    }
    this.#failing = true;
    return false;
  }
}
