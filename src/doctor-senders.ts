// `footprint doctor`'s view of who sends spans: the running daemon counts, per recognised server,
// spans that say their sender samples or names no service (footprint_ingest_advisories_total), and
// doctor turns each into the setting to change. Read from the daemon's /metrics on --listen.
import { splitHostPort } from './config.ts';
import { profileNamed } from './ingest/servers/registry.ts';

const ADVISORY_SERIES = /^footprint_ingest_advisories_total\{(.*)\} (\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;
/** A daemon that does not answer in this time is taken as not running. */
const SCRAPE_TIMEOUT_MS = 2000;

const GENERIC_FIXES: Readonly<Record<string, string>> = {
  sampled: 'send footprint every span (a sampling ratio of 1.0); sample in a Collector for your tracing backend (docs/llm-servers.md, Sampling)',
  unnamed_service: 'set OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES=ml.model=<model>) on the server, or label its pod with footprint.dev/model',
};

const WHAT: Readonly<Record<string, string>> = {
  sampled: 'sampled below 100%: the energy of the requests it did not send went to idle',
  unnamed_service: "with service.name left at the SDK's default: its requests are named by the pod or the executable, if at all",
};

/** Where doctor reaches the daemon's metrics listener: a wildcard listen address is this host. */
function metricsUrl(listen: string): string {
  const { host, port } = splitHostPort(listen);
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/metrics`;
}

/** Doctor's lines on span senders, from the exposition of a running daemon on `listen`. */
export async function senderAdvice(listen: string): Promise<string[]> {
  const url = metricsUrl(listen);
  let exposition: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    exposition = await response.text();
  } catch {
    return [`Span senders: no daemon answered on ${url}; run doctor beside a running daemon to see which servers should change a setting.`];
  }
  const findings: string[] = [];
  for (const line of exposition.split('\n')) {
    const series = ADVISORY_SERIES.exec(line);
    if (!series) continue;
    const labels = Object.fromEntries([...series[1]!.matchAll(LABEL)].map((match) => [match[1]!, match[2]!]));
    const { server = 'other', advisory = '' } = labels;
    const fix = profileNamed(server)?.fixes?.[advisory as 'sampled' | 'unnamed_service'] ?? GENERIC_FIXES[advisory];
    if (!fix) continue;
    const who = server === 'other' ? 'a sender footprint does not recognise' : server;
    findings.push(`- ${who}: ${Number(series[2])} span(s) ${WHAT[advisory]}\n  fix: ${fix}`);
  }
  return findings.length === 0 ? [`Span senders (${url}): none sampled below 100% or unnamed.`] : [`Span senders (${url}):`, ...findings];
}
