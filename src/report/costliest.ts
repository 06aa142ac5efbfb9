// The costliest requests of the window, from the exemplars Prometheus stored for the energy-per-request
// buckets: each exemplar is a settled request (its trace and span id, its joules), so the report can
// point at the traces behind the energy. Only as many as the scrapes linked: each bucket of each
// series holds the costliest request of about the last minute (src/telemetry/series-store.ts).
import type { ExemplarSeries } from './prometheus-client.ts';
import type { CostlyRequest } from './report-data.ts';

/** The `limit` requests with the most joules, each once (a request stays its bucket's exemplar over several scrapes). */
export function costliestRequests(series: ExemplarSeries[], limit: number): CostlyRequest[] {
  const byRequest = new Map<string, CostlyRequest>();
  for (const { seriesLabels, exemplars } of series) {
    for (const { labels, value, timestamp } of exemplars) {
      const { trace_id: traceId, span_id: spanId } = labels;
      if (traceId === undefined || spanId === undefined) continue;
      byRequest.set(`${traceId}/${spanId}`, {
        traceId,
        spanId,
        model: seriesLabels.ml_model ?? '',
        operation: seriesLabels.gen_ai_operation_name ?? '',
        node: seriesLabels.instance ?? '',
        energyJoules: Number.parseFloat(value),
        endedAt: new Date(timestamp * 1000).toISOString(),
      });
    }
  }
  return [...byRequest.values()].sort((a, b) => b.energyJoules - a.energyJoules || a.traceId.localeCompare(b.traceId)).slice(0, limit);
}
