import { context, diag, propagation, type Context } from '@opentelemetry/api';
import { openWindow, type WindowClientOptions } from './window-client.ts';

export interface WorkloadAttributes {
  model?: string;
  job?: string;
  phase?: string;
}

export type WithWorkloadOptions = Partial<WindowClientOptions>;

const DEFAULT_INGEST_URL = 'http://127.0.0.1:4318';
const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000;

const BAGGAGE_KEYS: Record<keyof WorkloadAttributes, string> = { model: 'ml.model', job: 'ml.job', phase: 'ml.phase' };

/** The active context with the workload added to its baggage (other baggage members are kept). */
function contextWithWorkload(workload: WorkloadAttributes, parent: Context): Context {
  let baggage = propagation.getBaggage(parent) ?? propagation.createBaggage();
  for (const [field, key] of Object.entries(BAGGAGE_KEYS) as [keyof WorkloadAttributes, string][]) {
    const value = workload[field];
    if (value !== undefined && value !== '') baggage = baggage.setEntry(key, { value });
  }
  return propagation.setBaggage(parent, baggage);
}

/** Daemons already reported as unreachable: one warning per URL per process, not one per call. */
const reportedUrls = new Set<string>();

function warnOnce(url: string, error: Error): void {
  if (reportedUrls.has(url)) return;
  reportedUrls.add(url);
  diag.warn(`footprint: cannot reach the ingest listener at ${url} (${error.message}); work runs unattributed until it is reachable`);
}

/**
 * Runs `fn` with the workload in the active context's baggage and a window open with the daemon.
 * The daemon being unreachable never fails `fn`: it is reported once through `options.onError`
 * (default: the OTel diag logger) and `fn` runs anyway. Baggage propagates through `await` only
 * where a context manager is registered (the Node SDK registers AsyncLocalStorage).
 */
export async function withWorkload<T>(workload: WorkloadAttributes, fn: () => T | Promise<T>, options: WithWorkloadOptions = {}): Promise<T> {
  const ingestUrl = options.ingestUrl ?? process.env.FOOTPRINT_INGEST_URL ?? DEFAULT_INGEST_URL;
  const clientOptions: WindowClientOptions = {
    ...options,
    ingestUrl,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    onError: options.onError ?? ((error) => warnOnce(ingestUrl, error)),
    ...((options.token ?? process.env.FOOTPRINT_INGEST_TOKEN) !== undefined && { token: options.token ?? process.env.FOOTPRINT_INGEST_TOKEN }),
  };
  const workloadContext = contextWithWorkload(workload, context.active());
  const window = await openWindow(workloadContext, clientOptions);
  try {
    return await context.with(workloadContext, fn);
  } finally {
    await window.end();
  }
}
