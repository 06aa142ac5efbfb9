// argv -> config -> subcommand. Flags are the config keys in kebab case (docs/architecture.md "Interfaces").
import { Command, Option } from 'commander';
import { ConfigError, flagName, loadConfig, type Config } from './config.ts';
import { startDaemon } from './daemon.ts';
import { runDoctor } from './doctor.ts';
import { createLogger } from './logger.ts';
import { reportCommand } from './report/command.ts';
import { VERSION } from './version.ts';

/** Every scalar setting as a flag, with its help text; structured keys (lists, maps) come from the file or JSON env. */
const FLAGS: Array<[keyof Config, string, string?]> = [
  ['listen', 'metrics listener (/metrics, /healthz, /readyz)', 'HOST:PORT'],
  ['ingestListen', 'ingest listener (OTLP /v1/traces, windows)', 'HOST:PORT'],
  ['interval', 'sample interval, e.g. 2s or 500ms', 'DURATION'],
  ['hostRoot', 'root of the host filesystem (/host in the DaemonSet)', 'DIR'],
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
  ['ingestTokenFile', 'file holding the bearer token the ingest listener requires', 'PATH'],
  ['ingestMaxBodyBytes', 'largest OTLP request body, before and after gunzip', 'BYTES'],
  ['ingestQueueLimit', 'spans waiting for the ledger before exports get 429', 'SPANS'],
  ['windowTtl', 'a window that stops heart-beating ends after this long', 'DURATION'],
  ['attributionLag', 'how long an interval waits for late spans before it is split', 'DURATION'],
  ['weightByTokens', 'share overlapping spans by their tokens instead of equally (true|false)', 'BOOL'],
  ['seriesIdleTimeout', 'drop workload series not updated for this long', 'DURATION'],
  ['cardinalityLimit', 'most attribute sets per metric; more go to the overflow series', 'N'],
  ['pricePerKwh', 'flat electricity price per kWh', 'PRICE'],
  ['currency', 'ISO 4217 currency of prices', 'CODE'],
  ['tariffTimeZone', 'IANA time zone of the time-of-use tariff', 'ZONE'],
  ['kubernetes', 'attribute to pods through the kubelet and API server (true|false)', 'BOOL'],
  ['nodeName', 'Kubernetes node name (FOOTPRINT_NODE_NAME from the downward API)', 'NAME'],
  ['podLabelModel', 'pod label or annotation naming ml.model', 'KEY'],
  ['podLabelJob', 'pod label or annotation naming ml.job', 'KEY'],
  ['podLabelPhase', 'pod label or annotation naming ml.phase', 'KEY'],
  ['logLevel', 'fatal | error | warn | info | debug | trace', 'LEVEL'],
  ['logFormat', 'json | pretty', 'FORMAT'],
];

function withConfigFlags(command: Command): Command {
  command.option('--config <FILE>', 'YAML configuration file (FOOTPRINT_CONFIG)');
  for (const [key, help, value] of FLAGS) command.addOption(new Option(`--${flagName(key)} <${value ?? 'VALUE'}>`, help));
  return command;
}

function configFrom(options: Record<string, unknown>): Config {
  const { config: file, ...flags } = options;
  return loadConfig({ flags, file: file as string | undefined });
}

async function start(options: Record<string, unknown>): Promise<void> {
  const config = configFrom(options);
  const logger = createLogger(config);
  const daemon = await startDaemon(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Kubernetes waits terminationGracePeriodSeconds; never hang past 5 s.
    setTimeout(() => process.exit(0), 5000).unref();
    daemon.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function buildProgram(): Command {
  const program = new Command('footprint')
    .description('Energy, CO2e and cost of every GPU, CPU and memory domain, attributed to model, job and phase')
    .version(VERSION);
  withConfigFlags(program.command('start').description('run the daemon: /metrics on --listen, OTLP ingest on --ingest-listen')).action(start);
  withConfigFlags(program.command('doctor').description('list the devices found, how each is measured, and what is missing with the fix')).action(async (options) => {
    const config = configFrom(options);
    process.stdout.write(await runDoctor(config, createLogger({ ...config, logLevel: 'silent' })));
  });
  program.addCommand(reportCommand());
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`footprint: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
