// Loopback doubles of the Electricity Maps v3 and WattTime v3 APIs, following their documented paths,
// headers, fields and units. Each handler is swappable so a test can script failures.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (request: IncomingMessage, response: ServerResponse, url: URL) => void;

export interface FakeServer {
  url: string;
  requests: { path: string; headers: IncomingMessage['headers'] }[];
  /** Replaces the behaviour of one path (`/v3/carbon-intensity/latest`, `/login`, ...). */
  on(path: string, handler: Handler): void;
  close(): Promise<void>;
}

export async function startFakeServer(routes: Record<string, Handler>): Promise<FakeServer> {
  const handlers = new Map(Object.entries(routes));
  const requests: FakeServer['requests'] = [];
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    requests.push({ path: url.pathname + url.search, headers: request.headers });
    const handler = handlers.get(url.pathname);
    if (!handler) return json(response, 404, { message: 'not found' });
    handler(request, response, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    on: (path, handler) => handlers.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/** Electricity Maps `GET /v3/carbon-intensity/latest?zone=` body. */
export function electricityMapsLatest(zone: string, carbonIntensity: number, datetimeMs: number, updatedAtMs = datetimeMs) {
  return {
    zone,
    carbonIntensity,
    datetime: new Date(datetimeMs).toISOString(),
    updatedAt: new Date(updatedAtMs).toISOString(),
    createdAt: new Date(datetimeMs).toISOString(),
    emissionFactorType: 'lifecycle',
    isEstimated: false,
    estimationMethod: null,
  };
}

/**
 * Electricity Maps `GET /v3/carbon-intensity/forecast?zone=` body (API reference, docs.electricitymaps.com
 * "Carbon intensity forecast": `{zone, forecast: [{carbonIntensity, datetime}], updatedAt}`, hourly by
 * default, horizon 24-72 h by plan).
 */
export function electricityMapsForecast(zone: string, startMs: number, carbonIntensities: number[], stepMs = 3_600_000) {
  return {
    zone,
    forecast: carbonIntensities.map((carbonIntensity, index) => ({ carbonIntensity, datetime: new Date(startMs + index * stepMs).toISOString() })),
    updatedAt: new Date(startMs).toISOString(),
  };
}

/** WattTime `GET /v3/forecast` body: 5-minute points in lbs CO2/MWh. */
export function wattTimeForecast(region: string, startMs: number, valuesLbsPerMwh: number[], generatedAtMs = startMs) {
  return {
    data: valuesLbsPerMwh.map((value, index) => ({
      point_time: new Date(startMs + index * 300_000).toISOString().replace('.000Z', '+00:00'),
      value,
    })),
    meta: {
      data_point_period_seconds: 300,
      region,
      signal_type: 'co2_moer',
      units: 'lbs_co2_per_mwh',
      generated_at_period_seconds: 300,
      generated_at: new Date(generatedAtMs).toISOString().replace('.000Z', '+00:00'),
      model: { date: '2024-10-01', type: 'binned_regression' },
    },
  };
}

/** One step of a scripted provider: a value it serves, or an HTTP status it fails with. */
export type IntensityStep = { gramsPerKwh: number } | { status: number };

export interface ScheduledLatest {
  handler: Handler;
  /** Starts the script: step i is served from startMs + i x stepMs; before this, step 0; after the last, the last. */
  begin(startMs: number): void;
  readonly startMs: number | undefined;
}

/**
 * `GET /v3/carbon-intensity/latest` following a script over wall time. Each value is dated by the start
 * of its step (`datetime`, as the real API dates a value by the period it covers) and `updatedAt` is
 * the request time, so the daemon never sees stale data while the script serves values.
 */
export function scheduledLatest(zone: string, steps: IntensityStep[], stepMs: number): ScheduledLatest {
  let startMs: number | undefined;
  return {
    get startMs() {
      return startMs;
    },
    begin(ms) {
      startMs = ms;
    },
    handler(_request, response) {
      const nowMs = Date.now();
      const index = startMs === undefined ? 0 : Math.min(steps.length - 1, Math.max(0, Math.floor((nowMs - startMs) / stepMs)));
      const step = steps[index]!;
      if ('status' in step) return json(response, step.status, { message: 'scripted failure' });
      const stepStartMs = startMs === undefined ? nowMs : startMs + index * stepMs;
      json(response, 200, electricityMapsLatest(zone, step.gramsPerKwh, stepStartMs, nowMs));
    },
  };
}
