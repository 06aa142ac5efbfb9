// The composition root: builds every stage from config, wires them in flow order
// (devices -> energy -> attribution -> carbon -> telemetry) and owns start, tick and shutdown.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ActivitySink } from './attribution/activity.ts';
import { startKubernetesAttribution } from './attribution/kubernetes/attribution.ts';
import { Ledger } from './attribution/ledger.ts';
import { createCarbonAccountant } from './carbon/create-accountant.ts';
import { ConfigError, splitHostPort, type Config } from './config.ts';
import { createDeviceSources, discoverAll, type DeviceInventory } from './devices/registry.ts';
import { EnergyMeter } from './energy/meter.ts';
import { createIngestServer } from './ingest/server.ts';
import { WindowStore } from './ingest/windows.ts';
import { Pipeline } from './pipeline.ts';
import { createTelemetry } from './telemetry/meter-provider.ts';
import { startMetricsServer } from './telemetry/metrics-server.ts';
import { Publisher } from './telemetry/publisher.ts';
import { SeriesStore } from './telemetry/series-store.ts';
import { startupSummary } from './startup-summary.ts';
import { VERSION } from './version.ts';

export interface RunningDaemon {
  metricsPort: number;
  ingestPort: number;
  discovery: DeviceInventory;
  stop(): Promise<void>;
}

function readToken(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`config: ingestTokenFile: cannot read '${path}': ${(error as Error).message}`);
  }
}

/** Power samples further apart than this many intervals are a gap, not integrated. */
const MAX_GAP_INTERVALS = 5;

export async function startDaemon(config: Config, logger: Logger): Promise<RunningDaemon> {
  const discovery = await discoverAll(createDeviceSources(config, logger), { hostRoot: config.hostRoot, logger });
  const accountant = createCarbonAccountant(config, logger);
  await accountant.start();

  let publisher: Publisher | undefined;
  const store = new SeriesStore({
    idleTimeoutMs: config.seriesIdleTimeout,
    cardinalityLimit: config.cardinalityLimit,
    onOverflow: (spec) => publisher?.overflow(spec.name, Date.now()),
  });
  publisher = new Publisher(store, accountant.currency, config.intensityProvider !== 'static');
  const windows = new WindowStore({ defaultTtlMs: config.windowTtl, retainMs: config.attributionLag + 10 * config.interval });
  const kubernetes = config.kubernetes ? await startKubernetesAttribution(config, discovery.devices, discovery.sources, logger) : undefined;
  const placedWindows = kubernetes ? { name: windows.name, activitiesBetween: (startMs: number, endMs: number) => windows.activitiesBetween(startMs, endMs).map(kubernetes.place) } : windows;
  const ledger = new Ledger({ lagMs: config.attributionLag, providers: kubernetes ? [placedWindows, kubernetes.provider] : [windows] });
  const meter = new EnergyMeter({
    maxGapMs: MAX_GAP_INTERVALS * config.interval,
    onEvent: (deviceId, event) => logger.info({ hwId: deviceId, event }, `${deviceId}: energy counter ${event}`),
  });
  const pipeline = new Pipeline({ sources: discovery.sources, devices: discovery.devices, meter, ledger, accountant, publisher, store, logger });

  const sink: ActivitySink = {
    addActivity: (activity) => ledger.addActivity(kubernetes ? kubernetes.place(activity) : activity),
    addRequest: (request) => {
      publisher.request(request, Date.now());
      ledger.addRequest(request);
    },
  };

  const telemetry = createTelemetry({
    store,
    version: VERSION,
    hostName: hostname(),
    nodeName: config.nodeName,
    otlpEndpoint: config.otlpEndpoint,
    otlpIntervalMs: config.otlpInterval,
  });
  const metricsAddress = splitHostPort(config.listen);
  const metrics = await startMetricsServer({ ...metricsAddress, exporter: telemetry.prometheus, isReady: () => pipeline.ticks > 0 });
  const ingestServer = createIngestServer({
    ...splitHostPort(config.ingestListen),
    maxBodyBytes: config.ingestMaxBodyBytes,
    queueLimitSpans: config.ingestQueueLimit,
    token: config.ingestTokenFile ? readToken(config.ingestTokenFile) : undefined,
    weightByTokens: config.weightByTokens,
    sink,
    windows,
    logger: logger.child({ component: 'ingest' }),
    onSpanOutcome: (outcome, count) => publisher.ingestSpans(outcome, count, Date.now()),
  });
  const ingest = await ingestServer.start();

  const tick = async (nowMs: number) => {
    await kubernetes?.refresh(nowMs);
    await pipeline.tick(nowMs);
  };
  await tick(Date.now());
  let ticking = false;
  const timer = setInterval(() => {
    // A slow device must not pile up ticks; the next one starts when this one is done.
    if (ticking) return;
    ticking = true;
    tick(Date.now())
      .catch((error: Error) => logger.error({ err: error }, 'sample tick failed'))
      .finally(() => (ticking = false));
  }, config.interval);

  logger.info({ metrics: `${metricsAddress.host}:${metrics.port}`, ingest: `${ingest.host}:${ingest.port}`, devices: discovery.devices.length }, startupSummary(discovery));

  return {
    metricsPort: metrics.port,
    ingestPort: ingest.port,
    discovery,
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([
        new Promise<void>((resolve) => {
          metrics.server.close(() => resolve());
          metrics.server.closeAllConnections();
        }),
        ingestServer.close(),
        telemetry.shutdown(),
        accountant.close(),
        kubernetes?.stop(),
        ...discovery.sources.map((source) => source.close?.()),
      ]);
    },
  };
}
