// Which OTLP spans become activities, and what each one says: workload, time range, devices, tokens.
import { LOAD_PHASE, REMOTE_PHASE, type Activity, type RequestRecord, type Workload } from '../attribution/activity.ts';
import {
  GEN_AI_MODEL_KEYS,
  WORKLOAD_ATTRIBUTE_KEYS,
  DEVICE_ID_KEY,
  deviceIdsFrom,
  normaliseAttributeValue,
  workloadFrom,
  type AttributeLookup,
} from '../attribution/workload-attributes.ts';
import type { Sender, SenderIdentity } from '../attribution/sender.ts';
import { workloadKeyOf } from '../attribution/workload-key.ts';
import { SpanKind, type AnyValueMessage, type Int64Like, type KeyValueMessage, type SpanMessage, type TraceRequestMessage } from './otlp-schema.ts';
import { PROVIDER_KEYS, upstreamOf } from './servers/gateway.ts';
import { profileFor, SERVER_MODEL_KEYS } from './servers/registry.ts';
import type { ServerProfile, SpanRole } from './servers/server-profile.ts';

/** Token counts: GenAI semantic conventions (current, then the older names vLLM sets), then OpenInference. */
const TOKEN_KEYS = {
  input: ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt'],
  output: ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion'],
} as const;

/** The last fallback for the model: the resource's service name (vLLM's V1 engine names no model on its spans). */
const SERVICE_NAME_KEY = 'service.name';
/**
 * The service name OTel SDKs set when none is configured: `unknown_service`, or
 * `unknown_service:<process.executable.name>` (resource semantic conventions, service.name).
 */
const DEFAULT_SERVICE_NAME = 'unknown_service';
/** Rust tracing spans' module path: tells TGI's request handler span from the spans nested in it. */
const CODE_NAMESPACE_KEY = 'code.namespace';
/** The process's executable: the model of last resort when the service name is the SDK's default. */
const EXECUTABLE_NAME_KEY = 'process.executable.name';

/** Finds the sending pod in Kubernetes mode (with k8s.namespace.name and k8s.pod.name). */
const POD_UID_KEY = 'k8s.pod.uid';

const OPERATION_KEY = 'gen_ai.operation.name';
/**
 * The well-known `gen_ai.operation.name` values of the GenAI semantic conventions; any other value
 * becomes `other`, so a client cannot mint label values.
 */
const KNOWN_OPERATIONS: ReadonlySet<string> = new Set([
  'chat',
  'text_completion',
  'embeddings',
  'generate_content',
  'execute_tool',
  'create_agent',
  'invoke_agent',
]);

/**
 * Attributes that make a span a GenAI request even when nothing names a workload: usage, latency
 * and request id, as vLLM's `llm_request` span carries them; the operation and provider
 * (`gen_ai.provider.name`, formerly `gen_ai.system`) of the GenAI conventions.
 */
const GEN_AI_ACTIVITY_PREFIXES = ['gen_ai.usage.', 'gen_ai.latency.'];
/** Keys under these prefixes are examined too (the wire reader decodes them to check). */
export const EXAMINED_KEY_PREFIXES: readonly string[] = GEN_AI_ACTIVITY_PREFIXES;
const GEN_AI_ACTIVITY_KEYS: ReadonlySet<string> = new Set([
  'gen_ai.request.id',
  'gen_ai.provider.name',
  'gen_ai.system',
  OPERATION_KEY,
  ...GEN_AI_MODEL_KEYS,
  ...TOKEN_KEYS.input,
  ...TOKEN_KEYS.output,
]);

/** The only attribute keys read (with EXAMINED_KEY_PREFIXES); everything else is skipped while decoding attribute lists. */
export const EXAMINED_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(WORKLOAD_ATTRIBUTE_KEYS),
  ...GEN_AI_ACTIVITY_KEYS,
  ...SERVER_MODEL_KEYS,
  DEVICE_ID_KEY,
  SERVICE_NAME_KEY,
  EXECUTABLE_NAME_KEY,
  CODE_NAMESPACE_KEY,
  POD_UID_KEY,
]);

/** A token count above this is not believed (and would dominate token weighting). */
const MAX_TOKENS_PER_SPAN = 10_000_000;

/** How far past the receiver's clock a span may end: clock skew between hosts, not more. */
export const MAX_FUTURE_SKEW_MS = 60_000;

export interface SpanLimits {
  /** Spans read from one request; the rest are rejected in partialSuccess. */
  maxSpansPerRequest: number;
  /** Attributes examined per span or resource; later ones are ignored. */
  maxAttributesPerSpan: number;
  /** A longer span is invalid (config `maxSpanDuration`). */
  maxSpanDurationMs: number;
}

/** A span that counts: the activity for the ledger and the request it was. */
interface CountedSpan {
  activity: Activity;
  request: RequestRecord;
  /** It claimed another pod than the one that sent it, and counts under the sender instead. */
  spoofed?: true;
}

export interface SpanBatch {
  counted: CountedSpan[];
  /** Spans without a usable time range (missing, out of bounds, or ending before they start). */
  invalid: number;
  /** Why the first invalid span was invalid, for partialSuccess. */
  invalidReason?: string;
  /** Spans past maxSpansPerRequest. */
  overLimit: number;
  /** Valid spans that are not activities: nested spans, client spans, a server's own work, gateway spans of local upstreams. */
  ignored: number;
  /** Spans that tell something is off at their sender, by server (a profile's name, or `other`) and advisory. */
  advisories: SenderAdvisory[];
}

/**
 * What a sender should fix: `sampled`, its tracestate says it samples below 100% (`ot=th:`), so the
 * energy of the requests it did not send went to idle; `unnamed_service`, its `service.name` is
 * the SDK's default, so its requests carry no model unless a pod label or the executable names one.
 */
type Advisory = 'sampled' | 'unnamed_service';

export interface SenderAdvisory {
  server: string;
  advisory: Advisory;
  spans: number;
}

/** Server of spans no profile recognises, in advisories. */
const OTHER_SERVER = 'other';

function advise(advisories: SenderAdvisory[], server: string, advisory: Advisory): void {
  for (const existing of advisories) {
    if (existing.server === server && existing.advisory === advisory) {
      existing.spans++;
      return;
    }
  }
  advisories.push({ server, advisory, spans: 1 });
}

type AttributeValue = string | number | boolean | string[];

/**
 * Each examined key's slot in an attribute table: a span's or resource's allow-listed attributes as
 * one array indexed by slot, so reading them makes no Map and no entry objects per span.
 */
const SLOT_OF_KEY: ReadonlyMap<string, number> = new Map([...EXAMINED_KEYS].map((key, slot) => [key, slot]));
type AttributeTable = (AttributeValue | undefined)[];

function int64ToBigInt(value: Int64Like | undefined): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'bigint') return value;
  try {
    return BigInt(typeof value === 'number' ? Math.trunc(value) : value.toString());
  } catch {
    return 0n;
  }
}

/** An int64 attribute value as the nearest double: what Number() of its exact BigInt gives. */
function int64ToNumber(value: Int64Like | undefined): number {
  // The wire reader hands over whole numbers already; only Longs and strings (JSON) need the BigInt.
  // (-0 becomes 0, as through BigInt.)
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value === 0 ? 0 : value;
  return Number(int64ToBigInt(value));
}

function isGenAiKey(key: string): boolean {
  if (GEN_AI_ACTIVITY_KEYS.has(key)) return true;
  // A loop, not .some(): this runs for every attribute of every span.
  for (const prefix of GEN_AI_ACTIVITY_PREFIXES) if (key.startsWith(prefix)) return true;
  return false;
}

/** An attribute's value as a plain value; arrays only of strings (for hw.id); undefined for other kinds. */
function plainValue(value: AnyValueMessage): AttributeValue | undefined {
  switch (value.value) {
    case 'stringValue':
      return value.stringValue!;
    case 'intValue':
      return int64ToNumber(value.intValue);
    case 'doubleValue':
      return value.doubleValue!;
    case 'boolValue':
      return value.boolValue!;
    case 'arrayValue': {
      const values = (value.arrayValue as { values?: AnyValueMessage[] }).values ?? [];
      return values.flatMap((item) => (item.value === 'stringValue' ? [item.stringValue!] : []));
    }
    default:
      return undefined;
  }
}

/**
 * Fills `table` (cleared first) with the allow-listed attributes of a KeyValue list, within
 * maxAttributesPerSpan; a key set twice keeps its last value. Returns the table.
 */
function readAttributes(list: KeyValueMessage[] | undefined, limits: SpanLimits, table: AttributeTable): AttributeTable {
  table.fill(undefined);
  if (!list) return table;
  const examined = Math.min(list.length, limits.maxAttributesPerSpan);
  for (let index = 0; index < examined; index++) {
    const { key, value } = list[index]!;
    const slot = value ? SLOT_OF_KEY.get(key) : undefined;
    if (slot === undefined) continue;
    const plain = plainValue(value!);
    if (plain !== undefined) table[slot] = plain;
  }
  return table;
}

function newTable(): AttributeTable {
  return new Array<AttributeValue | undefined>(SLOT_OF_KEY.size).fill(undefined);
}

function lookupIn(table: AttributeTable): AttributeLookup {
  return (key) => {
    const slot = SLOT_OF_KEY.get(key);
    return slot === undefined ? undefined : table[slot];
  };
}

/** Scratch for markSpan: the last value of each workload key, as readAttributes would keep it. */
const markValues: (AttributeValue | undefined)[] = [undefined, undefined, undefined];

/** Notes on `entry` what its span says of itself, in one pass over its attributes that keeps no values. */
function markSpan(entry: ValidSpan, limits: SpanLimits): void {
  const list = entry.span.attributes;
  let genAi = false;
  let codeNamespace: AttributeValue | undefined;
  markValues[0] = markValues[1] = markValues[2] = undefined;
  const examined = list ? Math.min(list.length, limits.maxAttributesPerSpan) : 0;
  for (let index = 0; index < examined; index++) {
    const { key, value } = list![index]!;
    if (!value) continue;
    if (!genAi && isGenAiKey(key)) genAi = true;
    if (key === CODE_NAMESPACE_KEY) codeNamespace = plainValue(value);
    const which = key === WORKLOAD_ATTRIBUTE_KEYS.model ? 0 : key === WORKLOAD_ATTRIBUTE_KEYS.job ? 1 : key === WORKLOAD_ATTRIBUTE_KEYS.phase ? 2 : -1;
    if (which < 0) continue;
    const plain = plainValue(value);
    if (plain !== undefined) markValues[which] = plain;
  }
  // The GenAI model keys are GenAI keys, so apart from them only ml.* can name a workload.
  let namesItself = genAi;
  for (const value of markValues) namesItself ||= normaliseAttributeValue(value) !== undefined;
  entry.genAi = genAi;
  entry.namesItself = namesItself;
  entry.codeNamespace = typeof codeNamespace === 'string' ? codeNamespace : undefined;
}

function tokenCount(sources: readonly AttributeLookup[], keys: readonly string[]): number | undefined {
  for (const key of keys) {
    for (const lookup of sources) {
      const raw = lookup(key);
      const count = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof count === 'number' && Number.isInteger(count) && count >= 0 && count <= MAX_TOKENS_PER_SPAN) return count;
    }
  }
  return undefined;
}

function providerOf(sources: readonly AttributeLookup[]): string | undefined {
  for (const key of PROVIDER_KEYS) {
    for (const lookup of sources) {
      const value = normaliseAttributeValue(lookup(key));
      if (value !== undefined) return value;
    }
  }
  return undefined;
}

/**
 * Whether a W3C tracestate carries an OpenTelemetry sampling threshold (`ot=...th:<hex>...`, the
 * OTel TraceState Probability Sampling spec): the span was kept with probability below 1. A
 * threshold of 0 means every span is kept.
 */
export function sampledBelowFull(traceState: string | undefined): boolean {
  if (!traceState) return false;
  const ot = /(?:^|,)\s*ot=([^,]*)/.exec(traceState);
  const threshold = ot && /(?:^|;)th:([0-9a-f]{1,14})(?:;|$)/.exec(ot[1]!);
  return !!threshold && /[1-9a-f]/.test(threshold[1]!);
}

function operationOf(sources: readonly AttributeLookup[], serverOperations: ReadonlyMap<string, string> | undefined): string | undefined {
  for (const lookup of sources) {
    const raw = normaliseAttributeValue(lookup(OPERATION_KEY));
    if (raw === undefined) continue;
    const value = serverOperations?.get(raw) ?? raw;
    return KNOWN_OPERATIONS.has(value) ? value : 'other';
  }
  return undefined;
}

function hasParent(span: SpanMessage): boolean {
  return !!span.parentSpanId && span.parentSpanId.length > 0;
}

/**
 * Whether a span is the entry of a unit of work in its process: SERVER and CONSUMER spans always;
 * INTERNAL (or unspecified) spans only when they have no parent at all. Only entry spans take
 * their workload from the resource, which every span of the process shares.
 */
function isEntrySpan(span: SpanMessage): boolean {
  const kind = span.kind ?? SpanKind.UNSPECIFIED;
  if (kind === SpanKind.SERVER || kind === SpanKind.CONSUMER) return true;
  return !hasParent(span) && (kind === SpanKind.INTERNAL || kind === SpanKind.UNSPECIFIED);
}

/**
 * Health, readiness and scrape endpoints, by span name: the HTTP semantic conventions name a server
 * span `{method} {http.route}`, Rust `#[instrument]` spans take the handler's name (TGI's `health`).
 * Kubernetes probes and Prometheus hit them every few seconds; they serve no model.
 */
const PROBE_SPAN = /^(?:(?:GET|HEAD) )?\/?(?:health|healthz|livez|readyz|ready|live|ping|metrics)$/i;

/** CLIENT and PRODUCER spans hand work to another process: their energy is spent there. */
function isOutgoing(span: SpanMessage): boolean {
  return span.kind === SpanKind.CLIENT || span.kind === SpanKind.PRODUCER;
}

function nanosToMs(nanos: bigint): number {
  return Number(nanos / 1000n) / 1000;
}

/** The time bounds of one request, in nanoseconds, computed once rather than per span. */
interface TimeBounds {
  latestEndNanos: bigint;
  maxDurationNanos: bigint;
}

function timeBounds(nowMs: number, limits: SpanLimits): TimeBounds {
  return { latestEndNanos: BigInt(Math.trunc(nowMs + MAX_FUTURE_SKEW_MS)) * 1_000_000n, maxDurationNanos: BigInt(limits.maxSpanDurationMs) * 1_000_000n };
}

/** Why a span's time range is unusable, or undefined when it is fine. */
function timeRangeProblem(startNanos: bigint, endNanos: bigint, bounds: TimeBounds, limits: SpanLimits): string | undefined {
  if (startNanos <= 0n || endNanos <= 0n) return 'a start or end time that is missing or not a positive integer of nanoseconds';
  if (endNanos < startNanos) return 'an end before the start';
  if (endNanos > bounds.latestEndNanos) return `an end more than ${MAX_FUTURE_SKEW_MS / 1000} s in the future`;
  if (endNanos - startNanos > bounds.maxDurationNanos) return `a duration above maxSpanDuration (${limits.maxSpanDurationMs / 1000} s)`;
  return undefined;
}

/** An id's bytes as a string, one char per byte (latin1), read in place; '' when unset. */
function idText(bytes: Uint8Array | undefined): string {
  // An unset bytes field decodes as protobufjs's shared empty array, not a Uint8Array.
  return bytes && bytes.length > 0 ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1') : '';
}

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;

/** An id as lowercase hex when it has its W3C length and is not all zeros (the invalid id); else undefined. */
function hexId(bytes: Uint8Array | undefined, length: number): string | undefined {
  if (!bytes || bytes.length !== length || bytes.every((byte) => byte === 0)) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

function idKey(traceId: Uint8Array | undefined, spanId: Uint8Array | undefined): string {
  return `${idText(traceId)}/${idText(spanId)}`;
}

interface ValidSpan {
  span: SpanMessage;
  startNanos: bigint;
  endNanos: bigint;
  /** The server that sent it, when a profile recognises it. */
  profile: ServerProfile | undefined;
  /** What it is to that server beyond the generic rules: the request, its own work, or start-up. */
  role: SpanRole | undefined;
  codeNamespace: string | undefined;
  /** Carries a GenAI model, usage, latency or request id attribute itself. */
  genAi: boolean;
  /** Names a model, job or phase itself (its GenAI attributes, or ml.model / ml.job / ml.phase). */
  namesItself: boolean;
  parentKey?: string;
}

export interface ReadSpansOptions {
  limits: SpanLimits;
  weightByTokens: boolean;
  /** The receiver's clock, for the future-skew bound. */
  nowMs: number;
  senderIdentity?: SenderIdentity;
  /** The IP address the request came from (for senderIdentity). */
  peerAddress?: string;
}

/**
 * The topmost span above `span` in this resource and trace, following parents present in the
 * batch and stopping below outgoing spans. Memoised in `tops`; a parent cycle ends the walk.
 */
function topOf(span: ValidSpan, byKey: ReadonlyMap<string, ValidSpan>, tops: Map<ValidSpan, ValidSpan>): ValidSpan {
  // Most spans are their own top (no parent in the batch): no walk, no allocation.
  if (span.parentKey === undefined || !byKey.has(span.parentKey)) return span;
  const path: ValidSpan[] = [];
  const onPath = new Set<ValidSpan>();
  let current = span;
  let top: ValidSpan;
  for (;;) {
    const known = tops.get(current);
    if (known) {
      top = known;
      break;
    }
    const parent = current.parentKey === undefined ? undefined : byKey.get(current.parentKey);
    path.push(current);
    onPath.add(current);
    if (!parent || isOutgoing(parent.span) || onPath.has(parent)) {
      top = current;
      break;
    }
    current = parent;
  }
  for (const visited of path) tops.set(visited, top);
  return top;
}

/** A resource's attributes, read once for all its spans. */
interface ResourceContext {
  lookup: AttributeLookup;
  serviceName: string | undefined;
  /** The sender as senderIdentity finds it; computed when first needed. */
  sender(): Sender | undefined;
  /** The model for activities that name none: the sender's, then the service's name; computed when first needed. */
  fallbackModel(): string | undefined;
}

/**
 * The model a service's name gives: the name itself, unless it is the SDK's default, which names
 * no model (every unnamed Python service is `unknown_service`): then the executable's name.
 */
function serviceModel(serviceName: string | undefined, lookup: AttributeLookup): string | undefined {
  if (serviceName !== undefined && serviceName !== DEFAULT_SERVICE_NAME && !serviceName.startsWith(`${DEFAULT_SERVICE_NAME}:`)) return serviceName;
  return normaliseAttributeValue(lookup(EXECUTABLE_NAME_KEY)) ?? normaliseAttributeValue(serviceName?.slice(DEFAULT_SERVICE_NAME.length + 1));
}

function resourceContext(table: AttributeTable, options: ReadSpansOptions): ResourceContext {
  const lookup = lookupIn(table);
  const serviceName = normaliseAttributeValue(lookup(SERVICE_NAME_KEY));
  let sender: { found: Sender | undefined } | undefined;
  let fallback: { model: string | undefined } | undefined;
  const context: ResourceContext = {
    lookup,
    serviceName,
    sender() {
      sender ??= { found: options.senderIdentity?.(lookup, options.peerAddress) };
      return sender.found;
    },
    fallbackModel() {
      fallback ??= { model: context.sender()?.model ?? serviceModel(serviceName, lookup) };
      return fallback.model;
    },
  };
  return context;
}

/** Whether a resource names its service by the SDK's default (`unknown_service...`), or not at all. */
function isDefaultServiceName(serviceName: string | undefined): boolean {
  return serviceName === undefined || serviceName === DEFAULT_SERVICE_NAME || serviceName.startsWith(`${DEFAULT_SERVICE_NAME}:`);
}

/** Distinct workloads kept for interning; past this the table starts over, so senders cannot grow it. */
const MAX_INTERNED_WORKLOADS = 10_000;

/**
 * Workloads by their key, across requests: spans of one workload share one object, whose key the
 * ledger then finds cached instead of building it again for every span.
 */
const internedWorkloads = new Map<string, Workload>();

/** Workloads that name only a model and a phase (most spans), by model then phase: no key string per span. */
const modelPhaseWorkloads = new Map<string, Map<string | undefined, Workload>>();
let modelPhaseCount = 0;

function internWorkload(workload: Workload): Workload {
  if (workload.model !== undefined && workload.job === undefined && workload.namespace === undefined && workload.pod === undefined) {
    let byPhase = modelPhaseWorkloads.get(workload.model);
    const existing = byPhase?.get(workload.phase);
    if (existing) return existing;
    if (modelPhaseCount >= MAX_INTERNED_WORKLOADS) {
      modelPhaseWorkloads.clear();
      modelPhaseCount = 0;
      byPhase = undefined;
    }
    if (!byPhase) {
      byPhase = new Map();
      modelPhaseWorkloads.set(workload.model, byPhase);
    }
    byPhase.set(workload.phase, workload);
    modelPhaseCount++;
    return workload;
  }
  const key = workloadKeyOf(workload);
  const existing = internedWorkloads.get(key);
  if (existing) return existing;
  if (internedWorkloads.size >= MAX_INTERNED_WORKLOADS) internedWorkloads.clear();
  internedWorkloads.set(key, workload);
  return workload;
}

/** Scratch table for the top span of an activity (most activities are one span). */
const topTable = newTable();
const topLookup = lookupIn(topTable);

/** No device: the activity of a request whose model ran elsewhere takes no energy here. */
const NO_DEVICES: string[] = [];

/**
 * The counted span for the activity of `top`, named by `namers` (top first when it names too), then
 * by `calls`, the outgoing GenAI spans below it; undefined when it is a gateway's span, or an app's
 * call, for a model server that reports its own.
 */
function countActivity(
  top: ValidSpan,
  namers: readonly ValidSpan[],
  calls: readonly ValidSpan[],
  resource: ResourceContext,
  options: ReadSpansOptions,
): CountedSpan | undefined {
  readAttributes(top.span.attributes, options.limits, topTable);
  const sources: AttributeLookup[] = [topLookup];
  for (const namer of namers) if (namer !== top) sources.push(lookupIn(readAttributes(namer.span.attributes, options.limits, newTable())));
  for (const call of calls) sources.push(lookupIn(readAttributes(call.span.attributes, options.limits, newTable())));
  sources.push(resource.lookup);
  // An app whose only GenAI spans are its calls to a model (CLIENT `chat gpt-4o`) is a client of that model, as a gateway is.
  const callsOnly = calls.length > 0 && !namers.some((namer) => namer.genAi);
  const gateway = (top.profile?.gateway ?? false) || callsOnly;
  const upstream = top.role === LOAD_PHASE ? undefined : upstreamOf(providerOf(sources), gateway);
  if (upstream === 'local') return undefined;
  const named = workloadFrom(sources, top.profile?.modelKeys);
  named.model ??= resource.fallbackModel();
  if (named.model === undefined) delete named.model;
  if (top.role === LOAD_PHASE) named.phase = LOAD_PHASE;
  else if (upstream === 'remote') named.phase = REMOTE_PHASE;
  let deviceIds = upstream === 'remote' ? NO_DEVICES : deviceIdsFrom(sources);
  // A pod's spans count under that pod and on its devices, whatever pod or GPU they name (docs/security.md, trust boundary).
  const pod = resource.sender()?.pod;
  const foreignDevices = pod?.namesForeignDevice(deviceIds) ?? false;
  const spoofed = foreignDevices || (pod?.claimsAnotherPod(sources) ?? false);
  if (foreignDevices) deviceIds = undefined;
  if (pod) {
    named.namespace = pod.namespace;
    named.pod = pod.name;
  }
  const workload = internWorkload(named);
  const startMs = nanosToMs(top.startNanos);
  const endMs = nanosToMs(top.endNanos);
  const inputTokens = tokenCount(sources, TOKEN_KEYS.input);
  const outputTokens = tokenCount(sources, TOKEN_KEYS.output);
  const operation = operationOf(sources, top.profile?.operations);
  // Weighting by tokens: a span without token counts still weighs 1 so it is not erased.
  const weight = options.weightByTokens ? Math.max(1, (inputTokens ?? 0) + (outputTokens ?? 0)) : 1;
  const activity: Activity = { source: 'span', workload, startMs, endMs, weight };
  // Device time is shared by sender first (docs/methodology.md, fairness): one client's many spans take one share.
  if (options.peerAddress !== undefined) activity.senderKey = options.peerAddress;
  const request: RequestRecord = { workload, startMs, endMs };
  if (deviceIds) activity.deviceIds = request.deviceIds = deviceIds;
  if (inputTokens !== undefined) request.inputTokens = inputTokens;
  if (outputTokens !== undefined) request.outputTokens = outputTokens;
  if (operation !== undefined) request.operation = operation;
  const traceId = hexId(top.span.traceId, TRACE_ID_BYTES);
  const spanId = hexId(top.span.spanId, SPAN_ID_BYTES);
  if (traceId !== undefined && spanId !== undefined) {
    request.traceId = traceId;
    request.spanId = spanId;
  }
  return spoofed ? { activity, request, spoofed } : { activity, request };
}

/**
 * Reads a decoded ExportTraceServiceRequest into the spans that count and the tallies of the rest.
 * Every entry span (SERVER or CONSUMER, or a root span of its process) is a request, whatever it
 * carries; within one resource and trace, the topmost local span above every entry span and every
 * span that names a workload is the activity, counted once: its time range, and the workload and
 * tokens of itself and then of the spans below it that name one (an HTTP SERVER span around an
 * INTERNAL `chat <model>` span). A server's profile (./servers) marks its own work (never a
 * request, nor anything below it) and its start-up (phase `load`, no request); a span whose model
 * runs behind a hosted API is a request of phase `remote` with no device time.
 * Attribute values are read into tables only for activities; other spans are judged in one pass.
 */
export function readSpans(request: TraceRequestMessage, options: ReadSpansOptions): SpanBatch {
  const { limits, nowMs } = options;
  const batch: SpanBatch = { counted: [], invalid: 0, overLimit: request.spansPastLimit ?? 0, ignored: 0, advisories: [] };
  const bounds = timeBounds(nowMs, limits);
  let seen = 0;
  const count = (top: ValidSpan, namers: readonly ValidSpan[], calls: readonly ValidSpan[], resource: ResourceContext): boolean => {
    const counted = countActivity(top, namers, calls, resource, options);
    if (counted) batch.counted.push(counted);
    return counted !== undefined;
  };
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = resourceContext(readAttributes(resourceSpans.resource?.attributes, limits, newTable()), options);

    const valid: ValidSpan[] = [];
    let anyParent = false;
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const profile = profileFor({ serviceName: resource.serviceName, scopeName: scopeSpans.scope?.name || undefined });
      const server = profile?.server ?? OTHER_SERVER;
      const unnamed = isDefaultServiceName(resource.serviceName);
      for (const span of scopeSpans.spans ?? []) {
        if (++seen > limits.maxSpansPerRequest) {
          batch.overLimit++;
          continue;
        }
        const startNanos = int64ToBigInt(span.startTimeUnixNano);
        const endNanos = int64ToBigInt(span.endTimeUnixNano);
        const problem = timeRangeProblem(startNanos, endNanos, bounds, limits);
        if (problem) {
          batch.invalid++;
          batch.invalidReason ??= problem;
          continue;
        }
        if (sampledBelowFull(span.traceState)) advise(batch.advisories, server, 'sampled');
        if (unnamed) advise(batch.advisories, server, 'unnamed_service');
        const entry: ValidSpan = { span, startNanos, endNanos, profile, role: undefined, genAi: false, namesItself: false, codeNamespace: undefined };
        markSpan(entry, limits);
        const name = span.name || undefined;
        entry.role =
          name !== undefined && PROBE_SPAN.test(name)
            ? 'work'
            : profile?.roleOf?.({ name, kind: span.kind ?? SpanKind.UNSPECIFIED, codeNamespace: entry.codeNamespace });
        valid.push(entry);
        if (hasParent(span)) anyParent = true;
      }
    }

    // Without parents every span is its own top and an entry span, unless it is outgoing: no ids, no maps.
    if (!anyParent) {
      let activities = 0;
      for (const entry of valid) {
        if (isOutgoing(entry.span) || entry.role === 'work') continue;
        if (count(entry, [entry], [], resource)) activities++;
      }
      batch.ignored += valid.length - activities;
      continue;
    }

    const byKey = new Map<string, ValidSpan>();
    for (const entry of valid) {
      if (hasParent(entry.span)) entry.parentKey = idKey(entry.span.traceId, entry.span.parentSpanId);
      const key = idKey(entry.span.traceId, entry.span.spanId);
      if (!byKey.has(key)) byKey.set(key, entry);
    }

    // Entry spans and spans that name a workload, grouped under their topmost local span; outgoing
    // GenAI spans (a call to a model server) say where the model of their top runs.
    const tops = new Map<ValidSpan, ValidSpan>();
    const namersByTop = new Map<ValidSpan, ValidSpan[]>();
    const callsByTop = new Map<ValidSpan, ValidSpan[]>();
    for (const entry of valid) {
      if (entry.role === 'work') continue;
      if (isOutgoing(entry.span)) {
        if (entry.genAi && entry.parentKey !== undefined && byKey.has(entry.parentKey)) {
          const top = topOf(byKey.get(entry.parentKey)!, byKey, tops);
          const calls = callsByTop.get(top);
          if (calls) calls.push(entry);
          else callsByTop.set(top, [entry]);
        }
        continue;
      }
      const orphan = entry.parentKey !== undefined && !byKey.has(entry.parentKey);
      // A nested span whose parent is in another batch counts only for GenAI attributes of its own:
      // ml.* copied from baggage onto every span would otherwise count it besides its entry span.
      // Start-up spans nest across processes (vLLM's workers under the API server's loading span): each process's topmost counts.
      const names = entry.role === 'request' || entry.role === 'load' || isEntrySpan(entry.span) || (orphan ? entry.genAi : entry.namesItself);
      if (!names) continue;
      const top = topOf(entry, byKey, tops);
      // Below a server's own work (a decode step's trace) nothing is a request.
      if (top.role === 'work') continue;
      const namers = namersByTop.get(top);
      if (namers) namers.push(entry);
      else namersByTop.set(top, [entry]);
    }
    let activities = 0;
    for (const [top, namers] of namersByTop) if (count(top, namers, callsByTop.get(top) ?? [], resource)) activities++;
    batch.ignored += valid.length - activities;
  }
  return batch;
}
