// argv -> config -> subcommand. Flags are the config keys in kebab case (docs/architecture.md "Interfaces").
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { ConfigError, flagName, loadConfig, type Config } from './config.ts';
import { startDaemon, type RunningDaemon } from './daemon.ts';
import { ZONES_EXAMPLE } from './carbon/zones.ts';
import { StartupError } from './listener.ts';
import { createLogger } from './logger.ts';
import { reportCommand } from './report/command.ts';
import { VERSION } from './version.ts';

/** Every scalar setting as a flag, with its help text; structured keys (lists, maps) come from the file or JSON env. */
const FLAGS: Array<[keyof Config, string, string?]> = [
  ['listen', 'metrics listener (/metrics, /healthz, /readyz)', 'HOST:PORT'],
  ['ingestListen', 'ingest listener (OTLP /v1/traces, windows)', 'HOST:PORT'],
  ['ingestGrpcListen', 'OTLP/gRPC trace listener (TraceService/Export)', 'HOST:PORT'],
  ['interval', 'sample interval, e.g. 2s or 500ms', 'DURATION'],
  ['hostRoot', 'root of the host filesystem (/host in the DaemonSet)', 'DIR'],
  [
    'memoryLimit',
    'memory the daemon keeps within, e.g. 256Mi: ingest gets 429 (gRPC RESOURCE_EXHAUSTED) above 70% of it; default half the cgroup limit, else 256Mi',
    'SIZE',
  ],
  ['zone', 'grid zone code for carbon intensity, e.g. DE, US-CAL-CISO', 'CODE'],
  ['cloudRegion', 'cloud region mapped to a grid zone, e.g. us-east-1', 'REGION'],
  ['intensity', 'static grid intensity override', 'G_PER_KWH'],
  ['pue', 'power usage effectiveness of the data centre (1.0-3.0)', 'N'],
  ['intensityProvider', 'static | file | electricitymaps | watttime', 'NAME'],
  ['intensityUrl', "the provider's base URL, or the file's path", 'URL'],
  ['intensityTokenFile', 'file holding the provider API token', 'PATH'],
  ['intensityRefresh', 'how often to fetch live intensity', 'DURATION'],
  ['intensityMaxAge', 'a live value older than this gives way to the static table', 'DURATION'],
  ['nvmlLibrary', 'path of libnvidia-ml.so.1', 'PATH'],
  ['deviceTimeout', 'bound on one read of a device source (a hung GPU driver)', 'DURATION'],
  ['rediscoverInterval', 'how often to look again for devices (permissions granted, driver loaded, hot-plug)', 'DURATION'],
  ['otlpEndpoint', 'push metrics over OTLP/HTTP to this collector base URL', 'URL'],
  ['otlpInterval', 'how often to push over OTLP', 'DURATION'],
  ['tracesEndpoint', "export each request's footprint.energy span to this OTLP traces URL (http/protobuf: .../v1/traces)", 'URL'],
  ['tracesProtocol', 'grpc | http/protobuf', 'PROTOCOL'],
  ['tracesHeaders', 'headers on every trace export: key=value,key2=value2 (values URL-encoded)', 'HEADERS'],
  ['tracesCertificate', "PEM file of the CA for the trace receiver's certificate", 'PATH'],
  ['tracesClientCertificate', 'PEM client certificate for the trace receiver (mTLS)', 'PATH'],
  ['tracesClientKey', 'PEM key of the client certificate (mTLS)', 'PATH'],
  ['tracesCompression', 'gzip | none', 'NAME'],
  ['tracesTimeout', 'bound on one trace export', 'DURATION'],
  ['tracesQueueSize', 'footprint.energy spans waiting for the receiver at most; more are dropped and counted', 'SPANS'],
  ['ingestTokenFile', 'file holding the bearer token the ingest listener requires', 'PATH'],
  ['ingestMaxBodyBytes', 'largest OTLP request body, before and after gunzip', 'BYTES'],
  ['ingestQueueLimit', 'spans waiting for the ledger before exports get 429 (gRPC RESOURCE_EXHAUSTED)', 'SPANS'],
  ['ingestMaxInflightBytes', 'request-body bytes held at once across all ingest connections; more get 503 (gRPC RESOURCE_EXHAUSTED)', 'BYTES'],
  ['ingestBodyTimeout', 'a request body must arrive whole within this time', 'DURATION'],
  ['ingestIdleTimeout', 'close an ingest socket silent for this long (also one that never sends a byte; gRPC: without a call)', 'DURATION'],
  ['ingestMaxConnections', 'most open ingest connections, OTLP/HTTP and OTLP/gRPC together; more are closed on accept', 'N'],
  ['listenIdleTimeout', 'close a metrics socket silent for this long', 'DURATION'],
  ['listenMaxConnections', 'most open metrics connections; more are closed on accept', 'N'],
  ['maxSpanDuration', 'a span longer than this is rejected as invalid', 'DURATION'],
  ['windowTtl', 'a window that stops heart-beating ends after this long', 'DURATION'],
  ['windowMaxTtl', 'longest TTL a window may ask for', 'DURATION'],
  ['windowsPerClient', 'most windows one client (peer address) may hold open', 'N'],
  ['windowClientRatePerSecond', 'window requests per second from one client (peer address), burst 2 s; more get 429', 'RATE'],
  ['windowRatePerSecond', 'updates per second of one window, burst 2 s; more get 429', 'RATE'],
  ['windowSegmentMaxBytes', 'bytes of ended window segments kept for the ledger; a phase change past it gets 429', 'BYTES'],
  ['attributionLag', 'how long an interval waits for late spans before it is split', 'DURATION'],
  ['attributionHorizon', 'how long idle time stays claimable by long spans that arrive after it was split (>= attribution lag)', 'DURATION'],
  ['attributionClaimWindow', 'on a device spans of several senders use, how long intervals wait instead of the lag (within lag..horizon)', 'DURATION'],
  ['weightByTokens', 'share overlapping spans by their tokens instead of equally (true|false)', 'BOOL'],
  ['seriesIdleTimeout', 'drop workload series not updated for this long', 'DURATION'],
  ['podSeries', 'publish k8s.pod.name on workload series, one series per pod (true|false)', 'BOOL'],
  ['requestDurationBuckets', 'bucket bounds of ml_request_duration_seconds, e.g. 0.5,1,2.5,10,30', 'SECONDS'],
  ['requestEnergyBuckets', 'bucket bounds of ml_request_energy_joules, e.g. 5,50,500,5000', 'JOULES'],
  ['cardinalityLimit', 'most attribute sets per metric; more go to the overflow series', 'N'],
  ['cardinalityLimitBytes', '/metrics bytes of the series of one workload metric (ml_*); more go to the overflow series', 'BYTES'],
  ['pricePerKwh', 'flat electricity price per kWh', 'PRICE'],
  ['currency', 'ISO 4217 currency of prices', 'CODE'],
  ['tariffTimeZone', 'IANA time zone of the time-of-use tariff', 'ZONE'],
  ['kubernetes', 'attribute to pods through the kubelet and API server (true|false)', 'BOOL'],
  ['nodeName', 'Kubernetes node name (FOOTPRINT_NODE_NAME from the downward API)', 'NAME'],
  ['podLabelModel', 'pod label or annotation naming ml.model', 'KEY'],
  ['podLabelJob', 'pod label or annotation naming ml.job', 'KEY'],
  ['podLabelPhase', 'pod label or annotation naming ml.phase', 'KEY'],
  ['trustedForwarderNamespaces', 'namespaces whose pods may send spans for other pods (a node-local OTel Collector), comma-separated', 'NAMES'],
  ['logLevel', 'fatal | error | warn | info | debug | trace', 'LEVEL'],
  ['logFormat', 'json | pretty', 'FORMAT'],
];

/** The carbon settings: what `plan` shares with `start`, so it prices a job exactly as the daemon would. */
const CARBON_KEYS = new Set<keyof Config>([
  'zone',
  'cloudRegion',
  'intensity',
  'pue',
  'intensityProvider',
  'intensityUrl',
  'intensityTokenFile',
  'intensityMaxAge',
]);

function withConfigFlags(command: Command, keys?: Set<keyof Config>): Command {
  command.option('--config <FILE>', 'YAML configuration file (FOOTPRINT_CONFIG)');
  for (const [key, help, value] of FLAGS.filter(([key]) => !keys || keys.has(key)))
    command.addOption(new Option(`--${flagName(key)} <${value ?? 'VALUE'}>`, help));
  return command;
}

function configFrom(options: Record<string, unknown>): Promise<Config> {
  const { config: file, ...flags } = options;
  return loadConfig({ flags, file: file as string | undefined });
}

/** Kubernetes kills the pod after terminationGracePeriodSeconds (30 s by default); finish well inside it. */
const SHUTDOWN_TIMEOUT_MS = 5000;

async function start(options: Record<string, unknown>): Promise<void> {
  const config = await configFrom(options);
  const logger = await createLogger(config);
  // Listening for signals before the start: a SIGTERM that comes while services start (a pod deleted
  // at once) is kept and acted on once the start is done, instead of killing the process mid-start.
  let shutDown: ((reason: string, failure?: unknown) => void) | undefined;
  let signalDuringStart: string | undefined;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (shutDown) shutDown(signal);
      else signalDuringStart ??= signal;
    });
  }
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(config, logger);
  } catch (error) {
    // Whatever stops the start is one line and exit 2 (below); the services that had started are closed by now.
    throw error instanceof ConfigError || error instanceof StartupError
      ? error
      : new StartupError(`start-up failed: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  shutDown = shutdownOf(daemon, logger);
  process.on('uncaughtException', (error) => shutDown!('uncaught exception', error));
  process.on('unhandledRejection', (reason) => shutDown!('unhandled rejection', reason));
  if (signalDuringStart) shutDown(signalDuringStart);
}

/** Exit 0 after a clean stop on SIGTERM/SIGINT; 1 after a runtime failure, a failed close or a shutdown past the timeout. */
function shutdownOf(daemon: RunningDaemon, logger: Logger): (reason: string, failure?: unknown) => void {
  let shuttingDown = false;
  // A failure during a signal's shutdown still makes the exit 1.
  let failed = false;
  return (reason, failure) => {
    if (failure !== undefined) {
      failed = true;
      logger.fatal({ err: failure }, `${reason}; shutting down`);
    }
    if (shuttingDown) return;
    shuttingDown = true;
    if (failure === undefined) logger.info({ signal: reason }, 'shutting down');
    setTimeout(() => {
      logger.error(
        { timeoutMs: SHUTDOWN_TIMEOUT_MS, service: daemon.closing() },
        `shutdown timed out after ${SHUTDOWN_TIMEOUT_MS} ms while closing ${daemon.closing()}`,
      );
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    // Each failed close is logged by the service runner, under the service's name.
    daemon.close().then(
      () => process.exit(failed ? 1 : 0),
      () => process.exit(1),
    );
  };
}

export function buildProgram(): Command {
  const program = new Command('footprint')
    .description('Energy, CO2e and cost of every GPU, CPU and memory domain, attributed to model, job and phase')
    .version(VERSION);
  withConfigFlags(program.command('start').description('run the daemon: /metrics on --listen, OTLP ingest on --ingest-listen')).action(start);
  withConfigFlags(program.command('doctor').description('list the devices found, how each is measured, and what is missing with the fix')).action(
    async (options) => {
      const config = await configFrom(options);
      // Each command imports what only it needs, so `start` never loads doctor's or report's code.
      const { runDoctor } = await import('./doctor.ts');
      process.stdout.write(await runDoctor(config, await createLogger({ ...config, logLevel: 'silent' })));
    },
  );
  withConfigFlags(
    program
      .command('plan')
      .description('the start with the least CO2e for a job under the grid forecast, against starting now')
      .option('--duration <DURATION>', 'how long the job runs, e.g. 4h')
      .option('--power <POWER>', 'average power of the job, e.g. 2.4kW or 300W')
      .option('--by <TIME>', 'the job must end by then: ISO 8601 with a zone, e.g. 2026-12-02T06:00Z')
      .option('--model <NAME>', "take the power from this ml.model's measured average over the last day (needs --prometheus)")
      .option('--prometheus <URL>', 'Prometheus that scrapes footprint, for --model')
      .option('--zones <CODES>', `where: compare these grid zones (comma-separated, e.g. ${ZONES_EXAMPLE}), each under its own forecast`)
      .option('--format <FORMAT>', 'json | text', 'text'),
    CARBON_KEYS,
  ).action(async (options) => {
    const { duration, power, by, model, prometheus, format, zones, ...rest } = options;
    const config = await configFrom(rest);
    const { runPlan } = await import('./plan-command.ts');
    process.stdout.write(
      await runPlan(config, { duration, power, by, model, prometheus, format, zones }, await createLogger({ ...config, logLevel: 'silent' })),
    );
  });
  program.addCommand(reportCommand());
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || error instanceof StartupError) {
    process.stderr.write(`footprint: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
