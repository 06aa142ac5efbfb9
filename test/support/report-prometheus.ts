// A real Prometheus holding the synthetic history: promtool imports the OpenMetrics text into
// blocks, then prometheus serves that data directory on a free loopback port.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { freePort } from './prom-server.ts';
import { startServerProcess } from './server-process.ts';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateHistory, toOpenMetrics, type GeneratedSeries } from './report-history.ts';

const run = promisify(execFile);
export const PROMTOOL = '/usr/bin/promtool';
export const PROMETHEUS = '/usr/bin/prometheus';
export const CHROMIUM = '/usr/bin/chromium';

/** True when every binary exists; in CI a missing one fails the run instead of skipping tests. */
export function haveBinaries(...paths: string[]): boolean {
  const missing = paths.filter((path) => {
    try {
      accessSync(path, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0 && process.env.CI === 'true') throw new Error(`CI needs ${missing.join(', ')} (apt-get install prometheus chromium victoria-metrics)`);
  return missing.length === 0;
}
export { freePort };

export interface LoadedPrometheus {
  url: string;
  series: GeneratedSeries[];
  stop: () => Promise<void>;
}

export async function startLoadedPrometheus(workDir: string): Promise<LoadedPrometheus> {
  await rm(workDir, { recursive: true, force: true });
  const dataDir = join(workDir, 'data');
  await mkdir(dataDir, { recursive: true });
  const series = generateHistory();
  const historyFile = join(workDir, 'history.om');
  await writeFile(historyFile, toOpenMetrics(series));
  // One block per ~6 weeks instead of promtool's default 2 h: the import then reads the file a few times, not hundreds.
  await run(PROMTOOL, ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', '--max-block-duration=1000h', historyFile, dataDir]);
  await rm(historyFile);
  const configFile = join(workDir, 'prometheus.yml');
  await writeFile(configFile, 'global:\n  scrape_interval: 1m\nscrape_configs: []\n');
  const { url, stop } = await startServerProcess(
    PROMETHEUS,
    (port) => [
      `--storage.tsdb.path=${dataDir}`,
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=10y',
      '--log.level=warn',
    ],
    '/-/ready',
  );
  return { url, series, stop };
}
