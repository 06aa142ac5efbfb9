// The client side of the daemon's windows API (docs/api.md): open, heartbeat, end. Every call is
// bounded in time and its failure is reported, never thrown, because attribution must not break
// the workload it observes.
import { defaultTextMapSetter, type Context } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';

export interface WindowClientOptions {
  /** Base URL of the daemon's ingest listener. */
  ingestUrl: string;
  /** How often the window is renewed while the work runs. */
  heartbeatIntervalMs: number;
  /** How long the daemon keeps the window after a missed heartbeat (default: the daemon's windowTtl). */
  ttlMs?: number;
  /** Devices the work runs on (hw.id); default: decided by the daemon (pod, process, or all devices). */
  hwIds?: string[];
  /** Bearer token of the ingest listener (default: env FOOTPRINT_INGEST_TOKEN). */
  token?: string;
  /** Bound on each call to the daemon. */
  requestTimeoutMs?: number;
  onError: (error: Error) => void;
}

export interface OpenedWindow {
  /** Ends the window (a no-op when it never opened); never throws. */
  end(): Promise<void>;
}

// The SDK injects with its own propagator, so windows work even where the application registered none.
const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

const DEFAULT_REQUEST_TIMEOUT_MS = 2000;

/** The daemon answered, with a status other than 2xx. */
class WindowCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function call(options: WindowClientOptions, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  const response = await fetch(new URL(path, options.ingestUrl), {
    method,
    headers: {
      ...headers,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
      ...(options.token !== undefined && { Authorization: `Bearer ${options.token}` }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) throw new WindowCallError(`${method} ${path} answered ${response.status}: ${(await response.text()).slice(0, 200)}`, response.status);
  return response;
}

export async function openWindow(workloadContext: Context, options: WindowClientOptions): Promise<OpenedWindow> {
  const headers: Record<string, string> = {};
  propagator.inject(workloadContext, headers, defaultTextMapSetter);
  const settings = {
    ...(options.hwIds && { 'hw.id': options.hwIds }),
    ...(options.ttlMs !== undefined && { ttl: options.ttlMs }),
  };
  let id: string;
  try {
    const response = await call(options, 'POST', '/v1/windows', headers, settings);
    id = ((await response.json()) as { id: string }).id;
  } catch (error) {
    options.onError(error as Error);
    return { end: async () => {} };
  }

  const path = `/v1/windows/${encodeURIComponent(id)}`;
  // A 404 means the daemon no longer holds the window (it restarted, or a missed heartbeat let the
  // window expire): open it again under the same id, so the work goes on being attributed.
  let reopening: Promise<unknown> | undefined;
  const reopen = () => {
    reopening = call(options, 'POST', '/v1/windows', headers, { ...settings, id }).then(
      (response) => response.body?.cancel(),
      (error: Error) => options.onError(error),
    );
  };
  const heartbeat = setInterval(() => {
    call(options, 'PUT', path, headers).then(
      (response) => response.body?.cancel(),
      (error: Error) => (error instanceof WindowCallError && error.status === 404 ? reopen() : options.onError(error)),
    );
  }, options.heartbeatIntervalMs);
  // A heartbeat must not keep a finished process alive.
  heartbeat.unref();

  return {
    async end() {
      clearInterval(heartbeat);
      // A re-open still on its way would otherwise land after the DELETE and leave the window open until its TTL.
      await reopening;
      try {
        await call(options, 'DELETE', path, {});
      } catch (error) {
        // 404: it had ended already (expired); nothing is lost by not ending it again.
        if (!(error instanceof WindowCallError && error.status === 404)) options.onError(error as Error);
      }
    },
  };
}
