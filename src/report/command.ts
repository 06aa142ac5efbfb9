// `footprint report`: the commander wiring for runReport.
import { Command, Option } from 'commander';
import { NoDataError } from './collect.ts';
import { PrometheusError } from './prometheus-client.ts';
import { stderrProgress } from './progress.ts';
import { GROUP_BY_VALUES, REPORT_FORMATS, type ReportFormat } from './options.ts';
import type { GroupBy } from './queries.ts';
import { ReportArgumentError } from './time-args.ts';

interface ReportFlags {
  prometheus: string;
  from: string;
  to: string;
  step?: string;
  groupBy: GroupBy;
  top: string;
  out: string;
  format: string;
  bearerTokenFile?: string;
  basicAuth?: string;
  basicAuthFile?: string;
  caFile?: string;
  insecureSkipVerify?: boolean;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('write a capacity review (report.html, report.md, report.json) from a Prometheus that scrapes footprint')
    .requiredOption('--prometheus <url>', 'Prometheus base URL, e.g. http://prometheus:9090')
    .option('--from <time>', 'window start: RFC 3339, unix seconds, or now-30d', 'now-30d')
    .option('--to <time>', 'window end: RFC 3339, unix seconds, or now', 'now')
    .option('--step <duration>', 'chart resolution, e.g. 1h (default: from the window length)')
    .addOption(new Option('--group-by <dimension>', 'dimension of the CO2e-over-time chart').choices(GROUP_BY_VALUES).default('model'))
    .option('--top <n>', 'rows per breakdown before "(rest)"', '10')
    .option('--out <dir>', 'output directory', 'footprint-report')
    .option('--format <list>', `comma-separated: ${REPORT_FORMATS.join(',')}`, REPORT_FORMATS.join(','))
    .option('--bearer-token-file <file>', 'file holding a bearer token for Prometheus')
    .addOption(new Option('--basic-auth <user:password>', 'basic auth credentials').conflicts('basicAuthFile'))
    .option('--basic-auth-file <file>', 'file holding user:password for basic auth')
    .option('--ca-file <file>', 'PEM CA bundle that signed the Prometheus certificate')
    .option('--insecure-skip-verify', 'do not verify the Prometheus TLS certificate')
    .action(async (flags: ReportFlags) => {
      try {
        await report(flags);
      } catch (error) {
        // Expected failures get one line and an exit code, not a stack trace: 2 for bad flags, 1 for the server or data.
        if (!(error instanceof ReportArgumentError || error instanceof PrometheusError || error instanceof NoDataError)) throw error;
        process.stderr.write(`footprint report: ${error.message}\n`);
        process.exitCode = error instanceof ReportArgumentError ? 2 : 1;
      }
    });
}

async function report(flags: ReportFlags): Promise<void> {
  // run.ts renders charts with vega and vega-lite: loaded only when a report is written.
  const { runReport } = await import('./run.ts');
  const result = await runReport({
    prometheus: flags.prometheus,
    from: flags.from,
    to: flags.to,
    step: flags.step,
    groupBy: flags.groupBy,
    top: Number(flags.top),
    out: flags.out,
    formats: flags.format.split(',').map((format) => format.trim()) as ReportFormat[],
    bearerTokenFile: flags.bearerTokenFile,
    basicAuth: flags.basicAuth,
    basicAuthFile: flags.basicAuthFile,
    caFile: flags.caFile,
    insecureSkipVerify: flags.insecureSkipVerify,
    progress: stderrProgress(),
  });
  for (const file of result.files) process.stdout.write(`${file}\n`);
}
