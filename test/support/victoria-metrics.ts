// A real VictoriaMetrics (Debian's `victoria-metrics`) holding the same synthetic history as the
// report's Prometheus: the series go in through its Prometheus text import API
// (POST /api/v1/import/prometheus, millisecond timestamps), then a forced flush makes them queryable.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sampleTimeSeconds, type GeneratedSeries } from './report-history.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

export const VICTORIA_METRICS = '/usr/bin/victoria-metrics';

export interface LoadedVictoriaMetrics {
  /** Serves the Prometheus query API under this URL (what `footprint report --prometheus` takes). */
  url: string;
  stop: () => Promise<void>;
}

/** Prometheus text exposition lines with millisecond timestamps, one sample a line. */
function* importLines(series: GeneratedSeries[]): Generator<string> {
  for (const one of series) {
    const labelText = Object.entries(one.labels)
      .map(([key, value]) => `${key}="${value}"`)
      .join(',');
    for (const [index, value] of one.values.entries()) yield `${one.name}{${labelText}} ${value} ${sampleTimeSeconds(index) * 1000}`;
  }
}

/** An empty VictoriaMetrics single-node keeping `retentionPeriod` (e.g. `1d`), for remote_write. */
export async function startVictoriaMetrics(workDir: string, retentionPeriod: string): Promise<ServerProcess> {
  await rm(workDir, { recursive: true, force: true });
  return startServerProcess(
    VICTORIA_METRICS,
    (port) => [`-storageDataPath=${join(workDir, 'data')}`, `-httpListenAddr=127.0.0.1:${port}`, `-retentionPeriod=${retentionPeriod}`, '-loggerLevel=ERROR'],
    '/health',
  );
}

export async function startLoadedVictoriaMetrics(workDir: string, series: GeneratedSeries[]): Promise<LoadedVictoriaMetrics> {
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const { url, stop } = await startServerProcess(
    VICTORIA_METRICS,
    (port) => [
      `-storageDataPath=${join(workDir, 'data')}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      // The history lies in the past (2025): keep it, and answer from storage, not a cache of the empty start.
      '-retentionPeriod=100y',
      '-search.disableCache',
      '-loggerLevel=ERROR',
    ],
    '/health',
  );
  try {
    const body = `${[...importLines(series)].join('\n')}\n`;
    const imported = await fetch(`${url}/api/v1/import/prometheus`, { method: 'POST', body });
    if (imported.status !== 204) throw new Error(`import answered ${imported.status}: ${await imported.text()}`);
    const flushed = await fetch(`${url}/internal/force_flush`);
    if (!flushed.ok) throw new Error(`force_flush answered ${flushed.status}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}
