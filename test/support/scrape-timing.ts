// What the hardening tests measure while they attack the daemon: how long a /metrics scrape takes,
// and percentiles of those times.

/** One GET /metrics, timed until its whole body has arrived. */
export async function timedScrape(metricsUrl: string): Promise<{ status: number; ms: number; body: string }> {
  const startMs = performance.now();
  const response = await fetch(`${metricsUrl}/metrics`);
  const body = await response.text();
  return { status: response.status, ms: performance.now() - startMs, body };
}

/** The nearest-rank `p`th percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
