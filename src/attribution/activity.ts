// What the attribution stage splits energy among: a span, a window or a pod's ownership of a device
// over a time range. Every producer of activities (OTLP ingest, windows API, Kubernetes) emits these.

/** The workload attributes; `undefined` fields are exported as empty labels. */
export interface Workload {
  model?: string;
  job?: string;
  phase?: string;
  namespace?: string;
  pod?: string;
}

type ActivitySource = 'span' | 'window' | 'pod';

export interface Activity {
  source: ActivitySource;
  workload: Workload;
  startMs: number;
  endMs: number;
  /** Devices it ran on (hw.id); undefined means every device of the node. */
  deviceIds?: string[];
  /** Relative share when activities overlap (default 1); tokens when weighting by tokens. */
  weight?: number;
  /**
   * A fixed fraction (0..1) of the device's energy in the range instead of an overlap-time share:
   * a pod's CPU time over the interval divided by the CPU capacity. Only pod activities use it.
   */
  fraction?: number;
  /**
   * Who sent it (spans: the peer address of the export; windows: the client that opened it). Spans
   * and windows share device time by sender first, so one client's many activities take one share;
   * absent: one anonymous sender for all activities without a key.
   */
  senderKey?: string;
}

/** The phase of start-up spans (loading weights, warm-up): energy for the model, never a request. */
export const LOAD_PHASE = 'load';
/** The phase of requests whose model runs elsewhere (a hosted API behind a gateway): counted, no energy here. */
export const REMOTE_PHASE = 'remote';

/** A finished request (an OTLP span), counted for ml.requests, ml.tokens and the request histograms. */
export interface RequestRecord {
  workload: Workload;
  startMs: number;
  endMs: number;
  inputTokens?: number;
  outputTokens?: number;
  deviceIds?: string[];
  /** `gen_ai.operation.name` (chat, embeddings...), or `other`; a label on the request metrics. */
  operation?: string;
  /** The request's top span, as lowercase hex (32 and 16 digits): its exemplars and its `footprint.energy` span point there. */
  traceId?: string;
  spanId?: string;
}

/** Whether a finished span counts as a request: start-up spans (phase `load`) only take energy. */
export function countsAsRequest(request: RequestRecord): boolean {
  return request.workload.phase !== LOAD_PHASE;
}

/** A finished span as ingest hands it over: the activity the ledger splits energy among, and its request. */
export interface SpanActivity {
  activity: Activity;
  request: RequestRecord;
}

/**
 * What became of a pushed span: `accepted` when it can get all its device time, `truncated` when part
 * of it was already settled or taken by other workloads before it arrived (that part's energy is lost to it).
 */
export type IngestOutcome = 'accepted' | 'truncated';

/** Where ingest pushes finished spans: the ledger. One call per export, so spans of one batch share fairly. */
export interface ActivitySink {
  addSpans(spans: SpanActivity[]): IngestOutcome[];
}

/**
 * Where the ledger pulls activities that are known as state rather than events:
 * open windows, pod ownership of devices. Called when an interval closes.
 */
export interface ActivityProvider {
  readonly name: string;
  activitiesBetween(startMs: number, endMs: number): Activity[];
}

/**
 * What a share of energy cost, as the carbon stage prices it. Declared here, not in carbon/, so the
 * ledger can sum it per request (footprint.energy spans) without importing a stage to its right.
 */
export interface ShareFootprint {
  /** energy (kWh) x PUE x grid intensity, intensity time-aligned to the range. */
  operationalGrams: number;
  /** manufacturing CO2e amortised over the device lifetime, for deviceSeconds. */
  embodiedGrams: number;
  /** energy (kWh) x PUE x tariff for the range. */
  energyCost: number;
  /** device-hour price x deviceSeconds / 3600. */
  hardwareCost: number;
}
