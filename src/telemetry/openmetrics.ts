// /metrics in the OpenMetrics text format, for scrapers that ask for it (Prometheus does, by default):
// the same families and samples as the Prometheus text format, with exemplars on the buckets of
// ml_request_energy_joules that link each bucket to the costliest recent request's trace.
// The OTel Prometheus exporter (0.223) writes no OpenMetrics and no exemplars, so its serializer
// writes the samples here too (same names, label sanitising and escaping as the default format),
// and this file adds only what OpenMetrics differs in: counter families named without `_total`,
// `"` escaped in HELP text, the exemplar after a bucket's value, and the closing `# EOF`.
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Resource } from '@opentelemetry/resources';
import type { CollectedMetric, StoreMetricProducer } from './producer.ts';
import type { Exemplar } from './series-store.ts';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** The quality (q) a media range of an Accept header gives `type`: its own entry, else 0. */
function qualityOf(accept: string, type: string): number {
  let quality = 0;
  for (const entry of accept.split(',')) {
    const [range, ...parameters] = entry.split(';').map((part) => part.trim().toLowerCase());
    if (range !== type) continue;
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    quality = Math.max(quality, q === undefined ? 1 : Number(q.slice(2)) || 0);
  }
  return quality;
}

/**
 * Whether a scrape asks for OpenMetrics: its Accept names `application/openmetrics-text` at least
 * as high as the Prometheus text format. Anything else (no header, `*\/*`, `text/plain`) gets the
 * Prometheus text format, unchanged.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  const openMetrics = qualityOf(accept, 'application/openmetrics-text');
  return openMetrics > 0 && openMetrics >= qualityOf(accept, 'text/plain');
}

/** ` # {trace_id="...",span_id="..."} value timestamp`: OpenMetrics' exemplar, timestamped in seconds when the request ended. */
function exemplarSuffix({ traceId, spanId, value, timeMs }: Exemplar): string {
  return ` # {trace_id="${traceId}",span_id="${spanId}"} ${value} ${(timeMs / 1000).toFixed(3)}`;
}

/**
 * The exemplars of a histogram family in the order its `_bucket` lines are written: every data
 * point's buckets (boundaries then +Inf) in turn; undefined where a bucket has none.
 */
function bucketExemplars(metric: CollectedMetric): (Exemplar | undefined)[] | undefined {
  if (!metric.points.some((point) => point.histogram?.exemplars)) return undefined;
  const buckets = (metric.spec.boundaries?.length ?? 0) + 1;
  return metric.points.flatMap((point) => point.histogram?.exemplars ?? new Array<undefined>(buckets).fill(undefined));
}

/** Rewrites the Prometheus text of `metrics` as OpenMetrics. */
function toOpenMetrics(prometheusText: string, metrics: CollectedMetric[]): string {
  const counterFamilies = new Map(
    metrics.filter(({ spec }) => spec.kind === 'counter').map(({ spec }) => [`${spec.prometheusName}_total`, spec.prometheusName]),
  );
  const exemplarsByBucketName = new Map<string, (Exemplar | undefined)[]>();
  for (const metric of metrics) {
    const exemplars = bucketExemplars(metric);
    if (exemplars) exemplarsByBucketName.set(`${metric.spec.prometheusName}_bucket`, exemplars);
  }
  // The family being written (from its TYPE line): its bucket lines' name and exemplars, and how many of its buckets were written.
  let bucketName = '';
  let exemplars: (Exemplar | undefined)[] | undefined;
  let bucketsSeen = 0;
  const lines = prometheusText.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      // `# HELP name text` / `# TYPE name type`: a counter's family drops `_total` (its samples keep it).
      const nameEnd = line.indexOf(' ', 7);
      const name = line.slice(7, nameEnd);
      const family = counterFamilies.get(name) ?? name;
      // OpenMetrics escapes `"` in HELP text too (the Prometheus format escapes only `\` and newlines).
      const rest = line.startsWith('# HELP ') ? line.slice(nameEnd).replaceAll('"', '\\"') : line.slice(nameEnd);
      lines[index] = `${line.slice(0, 7)}${family}${rest}`;
      bucketName = `${name}_bucket`;
      exemplars = exemplarsByBucketName.get(bucketName);
      bucketsSeen = 0;
      continue;
    }
    if (!exemplars || !line.startsWith(bucketName) || (line[bucketName.length] !== '{' && line[bucketName.length] !== ' ')) continue;
    const exemplar = exemplars[bucketsSeen++];
    if (exemplar) lines[index] = line + exemplarSuffix(exemplar);
  }
  const text = lines.join('\n');
  return `${text}${text.endsWith('\n') ? '' : '\n'}# EOF\n`;
}

/** Writes the store as OpenMetrics: the exporter's serializer settings, the meter provider's resource (target_info). */
export class OpenMetricsExposition {
  readonly #producer: StoreMetricProducer;
  readonly #resource: Resource;
  // As the PrometheusExporter makes it (no prefix or timestamps, target_info, no otel_scope labels).
  readonly #serializer = new PrometheusSerializer('', false, undefined, false, true);

  constructor(producer: StoreMetricProducer, resource: Resource) {
    this.#producer = producer;
    this.#resource = resource;
  }

  render(): string {
    const metrics = this.#producer.collectMetrics();
    const text = this.#serializer.serialize({
      resource: this.#resource,
      scopeMetrics: [{ scope: this.#producer.scope, metrics: metrics.map(({ data }) => data) }],
    });
    return toOpenMetrics(text, metrics);
  }
}
