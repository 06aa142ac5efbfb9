// The composition root: builds every stage from config, wires them in flow order
// (devices -> energy -> attribution -> carbon -> telemetry) and starts each part that holds a
// resource as a service (src/service.ts), so start-up rolls back and shutdown goes in reverse.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ActivitySink } from './attribution/activity.ts';
import { Ledger } from './attribution/ledger.ts';
import { unknownDeviceWarner } from './attribution/unknown-devices.ts';
import { createCarbonAccountant } from './carbon/create-accountant.ts';
import { summariseForecast } from './carbon/forecast.ts';
import { planFromQuery } from './carbon/plan-answer.ts';
import { ConfigError, readSmallFile, splitHostPort, type Config } from './config.ts';
import { createDeviceSources, describeChange, discoverAll, rediscover, type DeviceInventory } from './devices/registry.ts';
import { hostInventory } from './devices/inventory.ts';
import type { FileReader } from './devices/sysfs-read.ts';
import { EnergyMeter } from './energy/meter.ts';
import { ByteBudget } from './ingest/byte-budget.ts';
import { MemoryGuard } from './ingest/memory-guard.ts';
import { createIngestServer } from './ingest/server.ts';
import { WindowStore } from './ingest/windows.ts';
import { defaultMemoryLimit } from './memory-limit.ts';
import { Pipeline } from './pipeline.ts';
import { EnergySpanQueue } from './telemetry/energy-spans.ts';
import { createTelemetry, footprintResource } from './telemetry/meter-provider.ts';
import { StartupError } from './listener.ts';
import { RepeatingTask } from './repeating-task.ts';
import { startAll } from './service.ts';
import { startMetricsServer } from './telemetry/metrics-server.ts';
import { maxOpenFiles } from './telemetry/process-metrics.ts';
import { Publisher } from './telemetry/publisher.ts';
import { SeriesStore } from './telemetry/series-store.ts';
import { startupSummary } from './startup-summary.ts';
import { createTraceExporter } from './telemetry/trace-exporter.ts';
import { VERSION } from './version.ts';

export interface RunningDaemon {
  metricsPort: number;
  ingestPort: number;
  /** The OTLP/gRPC listener's port (config `ingestGrpcListen`). */
  grpcPort: number;
  /** The devices read now: rediscovery updates it in place. */
  discovery: DeviceInventory;
  /** Closes every service, newest first; rejects naming each one whose close failed (each is logged too). */
  close(): Promise<void>;
  /** The service being closed now, for a shutdown that runs out of time. */
  closing(): string | undefined;
}

/** Bearer tokens are short; a larger file is the wrong file. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

function readToken(path: string): string {
  const token = readSmallFile(path, 'ingestTokenFile', MAX_TOKEN_FILE_BYTES).trim();
  // An empty token would match a request with no Authorization header: auth silently off.
  if (token === '') throw new ConfigError(`config: ingestTokenFile: '${path}' is empty; write the token into it, or unset ingestTokenFile to run without auth`);
  return token;
}

/** Descriptors kept free of both listeners' caps: device files, the NVML worker, outbound HTTP, logs. */
const RESERVED_FDS = 256;

/** Both connection caps together (ingest's covers its HTTP and gRPC listeners) must leave device reads and /metrics descriptors to spare. */
function checkDescriptorHeadroom(config: Config, maxFds = maxOpenFiles()): void {
  if (maxFds === undefined || config.ingestMaxConnections + config.listenMaxConnections + RESERVED_FDS <= maxFds) return;
  throw new StartupError(
    `config: ingestMaxConnections: '${config.ingestMaxConnections}' with listenMaxConnections '${config.listenMaxConnections}' leaves fewer than ${RESERVED_FDS} of the ${maxFds} file descriptors (ulimit -n) for devices; lower ingestMaxConnections or raise the limit`,
  );
}

/** Power samples further apart than this many intervals are a gap, not integrated. */
const MAX_GAP_INTERVALS = 5;

/** What tests change that config cannot: kept to the seams a fixture host root lacks. */
export interface DaemonTestHooks {
  /** Replaces file reads under the host root (tests inject EACCES, which root never gets from chmod). */
  reader?: FileReader;
  /** Rediscovery period below the configured minimum, so a test sees a rediscovery within a second. */
  rediscoverIntervalMs?: number;
}

/** Closes every source (rediscovery adds to the list in place); a failing one does not keep the others open. */
async function closeSources(inventory: DeviceInventory): Promise<void> {
  const results = await Promise.allSettled(inventory.sources.map((source) => source.close?.()));
  const failed = results.flatMap((result, index) =>
    result.status === 'rejected' ? [`${inventory.sources[index]!.name}: ${(result.reason as Error).message}`] : [],
  );
  if (failed.length > 0) throw new Error(failed.join('; '));
}

export async function startDaemon(config: Config, logger: Logger, hooks: DaemonTestHooks = {}): Promise<RunningDaemon> {
  checkDescriptorHeadroom(config);
  if (config.kubernetes && !config.nodeName) {
    throw new StartupError('config: nodeName: (missing) is required when kubernetes is true; set FOOTPRINT_NODE_NAME from the downward API (spec.nodeName)');
  }
  const token = config.ingestTokenFile ? readToken(config.ingestTokenFile) : undefined;
  const { limitBytes: memoryLimitBytes, source } =
    config.memoryLimit === undefined ? defaultMemoryLimit() : { limitBytes: config.memoryLimit, source: 'memoryLimit' };
  logger.info({ memoryLimitBytes, source }, 'memory budget');
  const memory = new MemoryGuard(memoryLimitBytes);
  // Each part that holds a socket, a timer, a watch or a worker is a service; a failing start closes, newest first, what started before it.
  const { services, value: daemon } = await startAll(logger, async (services) => {
    const discoverOptions = { hostRoot: config.hostRoot, logger, reader: hooks.reader };
    const discovery = await services.open(
      'device sources',
      () => discoverAll(createDeviceSources(config, logger, { reader: hooks.reader }), discoverOptions),
      closeSources,
    );
    const inventory = await hostInventory(config.hostRoot);
    if (inventory.gaps.length > 0)
      logger.info({ gaps: inventory.gaps }, 'inventory: embodied figures use the documented assumptions where the machine cannot tell');
    const accountant = createCarbonAccountant(config, logger, { inventory });
    await services.start({ name: 'carbon accountant', start: () => accountant.start(), close: () => accountant.close() });

    let publisher: Publisher | undefined;
    const store = new SeriesStore({
      idleTimeoutMs: config.seriesIdleTimeout,
      cardinalityLimit: config.cardinalityLimit,
      cardinalityLimitBytes: config.cardinalityLimitBytes,
      onOverflow: (spec) => publisher?.overflow(spec.name, Date.now()),
    });
    publisher = new Publisher(store, accountant.currency, config.intensityProvider !== 'static', config);
    const published = publisher;
    const windows = new WindowStore({
      defaultTtlMs: config.windowTtl,
      maxTtlMs: config.windowMaxTtl,
      maxWindowsPerClient: config.windowsPerClient,
      ratePerSecond: config.windowRatePerSecond,
      maxSegmentBytes: config.windowSegmentMaxBytes,
      retainMs: config.attributionLag + 10 * config.interval,
    });
    // The Kubernetes client is loaded only in Kubernetes mode (tens of MB of RSS).
    const kubernetes = config.kubernetes
      ? await services.open(
          'kubernetes watchers',
          async () =>
            (await import('./attribution/kubernetes/attribution.ts')).startKubernetesAttribution(config, discovery.devices, discovery.sources, logger),
          (attribution) => attribution.close(),
        )
      : undefined;
    const placedWindows = kubernetes
      ? { name: windows.name, activitiesBetween: (startMs: number, endMs: number) => windows.activitiesBetween(startMs, endMs).map(kubernetes.place) }
      : windows;
    // Each settled request's footprint.energy span, when a trace receiver is configured; closed after the ticks stop.
    const tracesEndpoint = config.tracesEndpoint;
    const energySpans =
      tracesEndpoint === undefined
        ? undefined
        : await services.open(
            'trace export',
            async () =>
              new EnergySpanQueue({
                exporter: await createTraceExporter({ ...config, tracesEndpoint }),
                resource: footprintResource({ version: VERSION, hostName: hostname(), nodeName: config.nodeName }),
                version: VERSION,
                currency: accountant.currency,
                maxQueueSpans: config.tracesQueueSize,
                onDropped: (reason, count) => published.energySpansDropped(reason, count, Date.now()),
                logger: logger.child({ component: 'trace-export' }),
              }),
            (queue) => queue.shutdown(),
          );
    const ledger = new Ledger({
      lagMs: config.attributionLag,
      horizonMs: config.attributionHorizon,
      claimWindowMs: config.attributionClaimWindow,
      providers: kubernetes ? [placedWindows, kubernetes.provider] : [windows],
      // Spans are priced only for their footprint.energy span: the per-span sums cost a little on every split.
      ...(energySpans && { priceShare: (share) => pipeline.price(share) }),
    });
    const meter = new EnergyMeter({ maxGapMs: MAX_GAP_INTERVALS * config.interval });
    const pipeline = new Pipeline({
      sources: discovery.sources,
      devices: discovery.devices,
      owners: discovery.owners,
      meter,
      ledger,
      accountant,
      publisher,
      store,
      logger,
      energySpans,
    });

    const warnUnknownDevices = unknownDeviceWarner(discovery.devices, logger.child({ component: 'ingest' }));
    const sink: ActivitySink = {
      addSpans: (spans) => {
        for (const span of spans) warnUnknownDevices(span.activity);
        return ledger.addSpans(kubernetes ? spans.map((span) => ({ ...span, activity: kubernetes.place(span.activity) })) : spans);
      },
    };

    const telemetry = await services.open(
      'telemetry',
      async () =>
        createTelemetry({
          store,
          version: VERSION,
          hostName: hostname(),
          nodeName: config.nodeName,
          otlpEndpoint: config.otlpEndpoint,
          otlpIntervalMs: config.otlpInterval,
          memoryLimitBytes: memory.limitBytes,
        }),
      (telemetry) => telemetry.close(),
    );
    const metricsAddress = splitHostPort(config.listen);
    const metrics = await services.open(
      'metrics listener',
      () =>
        startMetricsServer({
          ...metricsAddress,
          exporter: telemetry.prometheus,
          openMetrics: telemetry.openMetrics,
          connections: { idleTimeoutMs: config.listenIdleTimeout, maxConnections: config.listenMaxConnections },
          isReady: () => pipeline.ticks > 0,
        }),
      (server) => server.close(),
    );
    const ingestServer = createIngestServer({
      ...splitHostPort(config.ingestListen),
      grpc: splitHostPort(config.ingestGrpcListen),
      maxBodyBytes: config.ingestMaxBodyBytes,
      budget: new ByteBudget(config.ingestMaxInflightBytes),
      memory,
      bodyTimeoutMs: config.ingestBodyTimeout,
      connections: { idleTimeoutMs: config.ingestIdleTimeout, maxConnections: config.ingestMaxConnections },
      queueLimitSpans: config.ingestQueueLimit,
      token,
      weightByTokens: config.weightByTokens,
      limits: { maxSpanDurationMs: config.maxSpanDuration },
      ...(kubernetes && { senderIdentity: kubernetes.senderIdentity }),
      sink,
      windows,
      windowClientRatePerSecond: config.windowClientRatePerSecond,
      logger: logger.child({ component: 'ingest' }),
      onSpanOutcome: (outcome, count) => publisher.ingestSpans(outcome, count, Date.now()),
      onAdvisory: (advisory) => publisher.ingestAdvisory(advisory, Date.now()),
      onRefusal: (reason) => publisher.ingestRefusal(reason, Date.now()),
      planner: (query) => {
        const nowMs = Date.now();
        return planFromQuery(query, accountant.forecast(nowMs), config.pue, nowMs);
      },
    });
    const ingest = await services.open(
      'ingest listeners',
      () => ingestServer.start(),
      () => ingestServer.close(),
    );

    const tick = async (nowMs: number) => {
      await kubernetes?.refresh(nowMs);
      await pipeline.tick(nowMs);
      const forecast = accountant.forecast(nowMs);
      publisher.forecast(forecast, summariseForecast(forecast, nowMs), nowMs);
    };
    // A slow device must not pile up ticks; the next one starts when this one is done.
    await services.start(
      new RepeatingTask({
        name: 'tick loop',
        task: () => tick(Date.now()),
        intervalMs: config.interval,
        runAtStart: true,
        onError: (error) => logger.error({ err: error }, 'sample tick failed'),
      }),
    );
    // Off the sample path: sources rescan while ticks go on, and the pipeline takes the new set at its next tick.
    await services.start(
      new RepeatingTask({
        name: 'rediscovery',
        task: async () => {
          const changes = await rediscover(discovery, discoverOptions);
          for (const change of changes) logger.info({ hwId: change.device.id, replaces: change.replaces.map((device) => device.id) }, describeChange(change));
          if (changes.length > 0) pipeline.setDevices(discovery.sources, discovery.devices);
        },
        intervalMs: hooks.rediscoverIntervalMs ?? config.rediscoverInterval,
        onError: (error) => logger.error({ err: error }, 'rediscovery failed'),
      }),
    );

    logger.info(
      {
        metrics: `${metricsAddress.host}:${metrics.port}`,
        ingest: `${ingest.host}:${ingest.port}`,
        ingestGrpcPort: ingest.grpcPort,
        devices: discovery.devices.length,
      },
      startupSummary(discovery),
    );
    return { metricsPort: metrics.port, ingestPort: ingest.port, grpcPort: ingest.grpcPort!, discovery };
  });

  return {
    ...daemon,
    async close() {
      const failures = await services.close();
      if (failures.length > 0)
        throw new AggregateError(
          failures.map((failure) => failure.error),
          `shutdown: ${failures.map((failure) => failure.service).join(', ')} failed to close`,
        );
    },
    closing: () => services.closing,
  };
}
