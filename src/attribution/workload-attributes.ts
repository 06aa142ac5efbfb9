// Workload attributes arrive from outside (span attributes, resource attributes, baggage) and become
// metric labels, so they are allow-listed by key and normalised before anything keeps them.
// Cardinality is limited later, per metric, by the telemetry store.
import type { Workload } from './activity.ts';

/** The attribute key each workload field is read from, on spans, resources, baggage and pod metadata. */
export const WORKLOAD_ATTRIBUTE_KEYS = {
  model: 'ml.model',
  job: 'ml.job',
  phase: 'ml.phase',
  namespace: 'k8s.namespace.name',
  pod: 'k8s.pod.name',
} as const satisfies Record<keyof Workload, string>;

/** Fallbacks for the model when a source sets no `ml.model`: GenAI semantic conventions, then OpenInference. */
export const GEN_AI_MODEL_KEYS = ['gen_ai.request.model', 'gen_ai.response.model', 'llm.model_name'] as const;

export const DEVICE_ID_KEY = 'hw.id';

/**
 * Longest value kept, in UTF-8 bytes (what a label costs in the exposition and, at most, in memory):
 * 128 ASCII characters, or 32 astral-plane ones (4 bytes each), cut on a code-point boundary.
 */
const MAX_ATTRIBUTE_VALUE_BYTES = 128;
/** Raw characters examined per value, so a 10 MB value costs no more than a short one. */
const MAX_EXAMINED_CHARS = MAX_ATTRIBUTE_VALUE_BYTES * 8;
/** Most devices one activity may name. */
const MAX_DEVICE_IDS = 64;

// C0/C1 controls, format characters (zero-width, bidi overrides) and lone surrogates (a JSON body's
// "\ud800", which the exposition writes as U+FFFD): invisible in dashboards, and a way to forge two
// label values that look the same. Whitespace controls (tab, newline) are left for the whitespace
// rule, which turns them into a space.
const INVISIBLE = /(?![\t\n\v\f\r])[\p{Cc}\p{Cf}\p{Cs}]/gu;
const WHITESPACE_RUN = /\s+/gu;
/**
 * Printable ASCII words separated by single spaces: already what normalising would make of it
 * (nothing to strip, collapse or trim; one byte per char), so the common case skips the
 * Unicode passes, which cost more than anything else per span at ingest (docs/benchmarks.md).
 */
const ALREADY_NORMAL = /^[!-~]+(?: [!-~]+)*$/;

/** UTF-8 bytes of one code point. */
function utf8Bytes(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/** The longest prefix of `text` within `maxBytes` UTF-8 bytes that ends on a code-point boundary. */
function cutToUtf8Bytes(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    bytes += utf8Bytes(char.codePointAt(0)!);
    if (bytes > maxBytes) return text.slice(0, end);
    end += char.length;
  }
  return text;
}

/**
 * A string, number or boolean as a label value: controls stripped, whitespace runs collapsed to
 * one space, trimmed, capped at MAX_ATTRIBUTE_VALUE_BYTES of UTF-8. Case is kept (model names are
 * case-sensitive). Anything else, or an empty result, is undefined.
 */
export function normaliseAttributeValue(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
  const raw = String(value);
  if (raw.length <= MAX_ATTRIBUTE_VALUE_BYTES && ALREADY_NORMAL.test(raw)) return raw;
  const text = raw.slice(0, MAX_EXAMINED_CHARS).replace(INVISIBLE, '').replace(WHITESPACE_RUN, ' ').trim();
  if (text === '') return undefined;
  return cutToUtf8Bytes(text, MAX_ATTRIBUTE_VALUE_BYTES).trimEnd();
}

/** Phases are a small vocabulary (`training`, `inference`); `Training` and `training` are one phase. */
function normalisePhase(value: unknown): string | undefined {
  // Lower case can take more bytes ('İ' is 2, 'i̇' 3), so the cut comes after it.
  const phase = normaliseAttributeValue(value)?.toLowerCase();
  return phase === undefined ? undefined : cutToUtf8Bytes(phase, MAX_ATTRIBUTE_VALUE_BYTES);
}

/** Reads one attribute by key from some source (a span's attribute map, a resource, a baggage). */
export type AttributeLookup = (key: string) => unknown;

function firstValue(sources: readonly AttributeLookup[], keys: readonly string[], normalise = normaliseAttributeValue) {
  for (const key of keys) {
    for (const lookup of sources) {
      const value = normalise(lookup(key));
      if (value !== undefined) return value;
    }
  }
  return undefined;
}

/** The first model key `lookup` names one by (loops, not reduce and arrays: this runs for every span at ingest). */
function modelOf(lookup: AttributeLookup, serverModelKeys: readonly string[]): string | undefined {
  for (const key of MODEL_KEYS) {
    const value = normaliseAttributeValue(lookup(key));
    if (value !== undefined) return value;
  }
  for (const key of serverModelKeys) {
    const value = normaliseAttributeValue(lookup(key));
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * The workload named by the sources, most specific first (span before resource): each field comes
 * from the first source that sets it. The model comes from the first source that names one, by
 * `ml.model`, then `gen_ai.request.model`, `gen_ai.response.model`, `llm.model_name`, then the
 * sending server's own model keys (Triton's `triton.model_name`): a span's model is more specific
 * than a model set for its whole process.
 */
const MODEL_KEYS = [WORKLOAD_ATTRIBUTE_KEYS.model, ...GEN_AI_MODEL_KEYS];
const JOB_KEYS = [WORKLOAD_ATTRIBUTE_KEYS.job];
const PHASE_KEYS = [WORKLOAD_ATTRIBUTE_KEYS.phase];
const NAMESPACE_KEYS = [WORKLOAD_ATTRIBUTE_KEYS.namespace];
const POD_KEYS = [WORKLOAD_ATTRIBUTE_KEYS.pod];

export function workloadFrom(sources: readonly AttributeLookup[], serverModelKeys: readonly string[] = []): Workload {
  const workload: Workload = {};
  let model: string | undefined;
  for (const lookup of sources) {
    model = modelOf(lookup, serverModelKeys);
    if (model !== undefined) break;
  }
  const job = firstValue(sources, JOB_KEYS);
  const phase = firstValue(sources, PHASE_KEYS, normalisePhase);
  const namespace = firstValue(sources, NAMESPACE_KEYS);
  const pod = firstValue(sources, POD_KEYS);
  // Only the fields that are set: an absent field and an undefined one differ to a strict comparison.
  if (model !== undefined) workload.model = model;
  if (job !== undefined) workload.job = job;
  if (phase !== undefined) workload.phase = phase;
  if (namespace !== undefined) workload.namespace = namespace;
  if (pod !== undefined) workload.pod = pod;
  return workload;
}

/** Whether a workload names a model, job or phase (namespace and pod alone say nothing finer than Kubernetes). */
export function namesWorkload(workload: Workload): boolean {
  return workload.model !== undefined || workload.job !== undefined || workload.phase !== undefined;
}

/**
 * Device ids from an `hw.id` value: a string (comma-separated list allowed) or an array of strings.
 * Each id is normalised; duplicates are dropped; at most MAX_DEVICE_IDS are kept. Undefined when none.
 */
export function parseDeviceIds(value: unknown): string[] | undefined {
  const parts = typeof value === 'string' ? value.slice(0, MAX_DEVICE_IDS * MAX_ATTRIBUTE_VALUE_BYTES).split(',') : value;
  if (!Array.isArray(parts)) return undefined;
  const ids = new Set<string>();
  for (const part of parts.slice(0, MAX_DEVICE_IDS * 2)) {
    const id = typeof part === 'string' ? normaliseAttributeValue(part) : undefined;
    if (id !== undefined) ids.add(id);
    if (ids.size === MAX_DEVICE_IDS) break;
  }
  return ids.size > 0 ? [...ids] : undefined;
}

/** Device ids from the first source that names any. */
export function deviceIdsFrom(sources: readonly AttributeLookup[]): string[] | undefined {
  for (const lookup of sources) {
    const ids = parseDeviceIds(lookup(DEVICE_ID_KEY));
    if (ids) return ids;
  }
  return undefined;
}
