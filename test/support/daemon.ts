// Starts the real daemon in-process on a fixture host root, on loopback ports picked by the OS.
import { loadConfig } from '../../src/config.ts';
import { startDaemon, type DaemonTestHooks, type RunningDaemon } from '../../src/daemon.ts';
import { createLogger } from '../../src/logger.ts';
import { eventually } from './eventually.ts';

export interface TestDaemon extends RunningDaemon {
  metricsUrl: string;
  ingestUrl: string;
  scrape(): Promise<string>;
  /** Scrapes until `holds` is true of the exposition and returns it; fails naming `what` after `timeoutMs`. */
  scrapeUntil(what: string, holds: (exposition: string) => boolean, timeoutMs?: number): Promise<string>;
}

export async function startTestDaemon(flags: Record<string, unknown>, hooks?: DaemonTestHooks): Promise<TestDaemon> {
  const config = await loadConfig({
    flags: {
      listen: '127.0.0.1:0',
      ingestListen: '127.0.0.1:0',
      ingestGrpcListen: '127.0.0.1:0',
      interval: '200ms',
      attributionLag: '0ms',
      attributionHorizon: flags.attributionLag ?? '0ms',
      logLevel: 'silent',
      // In-process, the daemon's RSS is the whole test worker's: the memory budget is tested on spawned daemons (test/hardening).
      memoryLimit: '64Gi',
      ...flags,
    },
    env: {},
  });
  const daemon = await startDaemon(config, await createLogger(config), hooks);
  const metricsUrl = `http://127.0.0.1:${daemon.metricsPort}`;
  const scrape = async () => (await fetch(`${metricsUrl}/metrics`)).text();
  return {
    ...daemon,
    metricsUrl,
    ingestUrl: `http://127.0.0.1:${daemon.ingestPort}`,
    scrape,
    scrapeUntil: (what, holds, timeoutMs = 10_000) =>
      eventually(
        async () => {
          const exposition = await scrape();
          return holds(exposition) ? exposition : undefined;
        },
        timeoutMs,
        what,
      ),
  };
}

/** The value of one series in Prometheus text exposition, matched by name and label subset. */
export function sampleValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** The sum of every series of `name` whose labels include `labels` (a metric summed over the labels not named). */
export function sampleSum(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
