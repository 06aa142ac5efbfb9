// A real ingest server (OTLP/HTTP and OTLP/gRPC listeners) on 127.0.0.1 free ports with a
// recording sink in place of the ledger.
import { pino } from 'pino';
import type { Activity, ActivitySink, IngestOutcome, RequestRecord, SpanActivity } from '../../src/attribution/activity.ts';
import { parseConfig } from '../../src/config.ts';
import { ByteBudget } from '../../src/ingest/byte-budget.ts';
import { MemoryGuard } from '../../src/ingest/memory-guard.ts';
import { createIngestServer, type IngestServerOptions } from '../../src/ingest/server.ts';
import type { SpanOutcome } from '../../src/ingest/traces-api.ts';
import { WindowStore } from '../../src/ingest/windows.ts';

/**
 * Records what the ledger would get; spans starting before `truncatedBeforeMs` are answered `truncated`.
 * Each request's trace and span id (random in a real SDK) go to `requestIds`, the rest of it to `requests`.
 */
class RecordingSink implements ActivitySink {
  readonly activities: Activity[] = [];
  readonly requests: RequestRecord[] = [];
  readonly requestIds: { traceId?: string; spanId?: string }[] = [];
  truncatedBeforeMs = 0;

  addSpans(spans: SpanActivity[]): IngestOutcome[] {
    for (const { activity, request } of spans) {
      this.activities.push(activity);
      const { traceId, spanId, ...rest } = request;
      this.requests.push(rest);
      this.requestIds.push({ traceId, spanId });
    }
    return spans.map(({ activity }) => (activity.startMs < this.truncatedBeforeMs ? 'truncated' : 'accepted'));
  }
}

export interface IngestHarness {
  url: string;
  /** host:port of the OTLP/gRPC listener. */
  grpcAddress: string;
  sink: RecordingSink;
  windows: WindowStore;
  outcomes: Map<SpanOutcome, number>;
  close(): Promise<void>;
}

export async function startIngest(overrides: Partial<IngestServerOptions> = {}): Promise<IngestHarness> {
  const sink = new RecordingSink();
  const windows = overrides.windows ?? new WindowStore({ defaultTtlMs: 60_000, retainMs: 600_000 });
  const outcomes = new Map<SpanOutcome, number>();
  // The daemon's defaults, so the harness runs under the limits a user gets.
  const defaults = parseConfig({});
  const server = createIngestServer({
    host: '127.0.0.1',
    port: 0,
    grpc: { host: '127.0.0.1', port: 0 },
    maxBodyBytes: 1024 * 1024,
    budget: new ByteBudget(defaults.ingestMaxInflightBytes),
    // The harness runs in the test runner, whose RSS is not a daemon's: a budget it never reaches
    // (V8's old generation is still checked); tests of the guard pass their own.
    memory: new MemoryGuard(2 ** 40),
    bodyTimeoutMs: defaults.ingestBodyTimeout,
    connections: { idleTimeoutMs: defaults.ingestIdleTimeout, maxConnections: defaults.ingestMaxConnections },
    queueLimitSpans: 1000,
    sink,
    windows,
    logger: pino({ level: 'silent' }),
    onSpanOutcome: (outcome, count) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + count),
    ...overrides,
  });
  const { port, grpcPort } = await server.start();
  return { url: `http://127.0.0.1:${port}`, grpcAddress: `127.0.0.1:${grpcPort}`, sink, windows, outcomes, close: () => server.close() };
}
