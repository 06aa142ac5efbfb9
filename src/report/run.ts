// runReport: options -> queries -> numbers -> report.html / report.md / report.json in --out.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { analyze } from './analyze.ts';
import { renderCharts } from './charts.ts';
import { collect } from './collect.ts';
import { buildSections } from './findings.ts';
import { PrometheusClient } from './prometheus-client.ts';
import type { ProgressReporter } from './progress.ts';
import { GROUP_BY_VALUES, REPORT_FORMATS, type ReportFormat } from './options.ts';
import type { GroupBy } from './queries.ts';
import type { ReportData } from './report-data.ts';
import { renderHtml } from './render-html.ts';
import { renderMarkdown } from './render-markdown.ts';
import { parseDurationArg, ReportArgumentError, resolveWindow } from './time-args.ts';

export interface ReportOptions {
  prometheus: string;
  /** RFC 3339, unix seconds, `now` or `now-30d`. */
  from: string;
  to: string;
  /** Chart resolution, e.g. `1h`; chosen from the window length when absent. */
  step?: string;
  groupBy?: GroupBy;
  top?: number;
  out?: string;
  formats?: ReportFormat[];
  bearerTokenFile?: string;
  /** `user:password`. */
  basicAuth?: string;
  /** File holding `user:password`. */
  basicAuthFile?: string;
  caFile?: string;
  insecureSkipVerify?: boolean;
  progress?: ProgressReporter;
  now?: Date;
}

export interface ReportResult {
  data: ReportData;
  /** Absolute paths of the files written. */
  files: string[];
}

/** Chart points stay readable (at most ~240 per series) and land on round boundaries. */
const STEP_LADDER_SECONDS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400];
const TARGET_POINTS = 240;
/** Prometheus refuses range queries with more points than this. */
const MAX_POINTS = 11_000;
const PROJECTION_BASIS_MAX_SECONDS = 7 * 86_400;

function defaultStepSeconds(lengthSeconds: number): number {
  return STEP_LADDER_SECONDS.find((step) => lengthSeconds / step <= TARGET_POINTS) ?? STEP_LADDER_SECONDS[STEP_LADDER_SECONDS.length - 1]!;
}

async function readSecret(flag: string, path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new ReportArgumentError(`${flag}: cannot read ${path}: ${(error as Error).message}`);
  }
}

function parseBasicAuth(flag: string, text: string): { username: string; password: string } {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ReportArgumentError(`${flag}: expected user:password`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

async function buildClient(options: ReportOptions): Promise<PrometheusClient> {
  const basicAuthText = options.basicAuthFile ? await readSecret('--basic-auth-file', options.basicAuthFile) : options.basicAuth;
  return new PrometheusClient({
    baseUrl: options.prometheus,
    bearerToken: options.bearerTokenFile ? await readSecret('--bearer-token-file', options.bearerTokenFile) : undefined,
    basicAuth: basicAuthText ? parseBasicAuth(options.basicAuthFile ? '--basic-auth-file' : '--basic-auth', basicAuthText) : undefined,
    caPem: options.caFile ? await readSecret('--ca-file', options.caFile) : undefined,
    insecureSkipVerify: options.insecureSkipVerify,
  });
}

export async function runReport(options: ReportOptions): Promise<ReportResult> {
  const now = options.now ?? new Date();
  const { fromSeconds, toSeconds } = resolveWindow(options.from, options.to, now.getTime() / 1000);
  const lengthSeconds = toSeconds - fromSeconds;
  const stepSeconds = options.step ? parseDurationArg('--step', options.step) : defaultStepSeconds(lengthSeconds);
  if (lengthSeconds / stepSeconds > MAX_POINTS) {
    throw new ReportArgumentError(
      `--step: ${options.step} gives ${Math.ceil(lengthSeconds / stepSeconds)} points per series; Prometheus allows ${MAX_POINTS}, use a larger step`,
    );
  }
  const groupBy = options.groupBy ?? 'model';
  if (!GROUP_BY_VALUES.includes(groupBy)) throw new ReportArgumentError(`--group-by: expected one of ${GROUP_BY_VALUES.join(', ')}, got "${groupBy}"`);
  const topN = options.top ?? 10;
  if (!Number.isInteger(topN) || topN < 1) throw new ReportArgumentError(`--top: expected a whole number of at least 1, got ${topN}`);
  const formats = options.formats ?? [...REPORT_FORMATS];
  const unknownFormat = formats.find((format) => !REPORT_FORMATS.includes(format));
  if (unknownFormat !== undefined)
    throw new ReportArgumentError(`--format: expected a comma-separated list of ${REPORT_FORMATS.join(', ')}, got "${unknownFormat}"`);

  const client = await buildClient(options);
  const projectionBasisSeconds = Math.min(lengthSeconds, PROJECTION_BASIS_MAX_SECONDS);
  const plan = { fromSeconds, toSeconds, stepSeconds, projectionBasisSeconds, groupBy };
  const raw = await collect(client, plan, options.progress ?? (() => {}));
  const data = analyze(raw, { ...plan, prometheusUrl: options.prometheus, topN, now });

  const outDir = resolve(options.out ?? 'footprint-report');
  await mkdir(outDir, { recursive: true });
  const sections = buildSections(data);
  const contents: Record<ReportFormat, () => Promise<string>> = {
    html: async () => renderHtml(data, sections, await renderCharts(data)),
    md: async () => renderMarkdown(data, sections),
    json: async () => `${JSON.stringify(data, null, 2)}\n`,
  };
  const files: string[] = [];
  for (const format of formats) {
    const path = join(outDir, `report.${format}`);
    await writeFile(path, await contents[format]());
    files.push(path);
  }
  return { data, files };
}
