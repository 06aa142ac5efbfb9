// The windows HTTP API: POST /v1/windows opens (or re-opens) a window named by the W3C baggage
// header, PUT /v1/windows/{id} heartbeats and may change its workload, DELETE ends it.
// See docs/api.md. Every request counts against its client's rate, and is refused while memory is
// short, before its body is read: windows hold what clients send, as trace ingest does.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDurationMs, WINDOW_DEFAULTS } from '../config.ts';
import { namesWorkload, parseDeviceIds, workloadFrom, DEVICE_ID_KEY } from '../attribution/workload-attributes.ts';
import { BodyError, readBody } from './body.ts';
import { extractRequestContext } from './context.ts';
import { sendJson, sendJsonError } from './http-answers.ts';
import { KeyedRateLimiter } from './rate-limit.ts';
import { WindowLimitError, type WindowInfo, type WindowStore, type WindowUpdate } from './windows.ts';
import { peerIp } from './traces-api.ts';

/** A window request body is a handful of fields. */
const MAX_WINDOW_BODY_BYTES = 4096;
const WINDOW_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const BODY_FIELDS = new Set(['id', DEVICE_ID_KEY, 'ttl']);

class WindowRequestError extends Error {}

interface WindowBody {
  id?: string;
  update: WindowUpdate;
}

async function readWindowBody(request: IncomingMessage, bodyTimeoutMs: number): Promise<WindowBody> {
  const raw = await readBody(request, { maxBytes: MAX_WINDOW_BODY_BYTES, timeoutMs: bodyTimeoutMs });
  if (raw.length === 0) return { update: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new WindowRequestError('body must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new WindowRequestError('body must be a JSON object');
  const fields = parsed as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !BODY_FIELDS.has(key));
  if (unknown !== undefined) throw new WindowRequestError(`unknown field '${unknown.slice(0, 64)}'; expected id, hw.id, ttl`);

  const body: WindowBody = { update: {} };
  if (fields.id !== undefined) {
    if (typeof fields.id !== 'string' || !WINDOW_ID.test(fields.id)) throw new WindowRequestError('id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -');
    body.id = fields.id;
  }
  if (fields[DEVICE_ID_KEY] !== undefined) {
    const deviceIds = parseDeviceIds(fields[DEVICE_ID_KEY]);
    if (!deviceIds) throw new WindowRequestError('hw.id must be a device id or a list of them');
    body.update.deviceIds = deviceIds;
  }
  if (fields.ttl !== undefined) {
    const ttlMs = typeof fields.ttl === 'number' ? fields.ttl : typeof fields.ttl === 'string' ? parseDurationMs(fields.ttl) : undefined;
    if (ttlMs === undefined || !Number.isFinite(ttlMs) || ttlMs <= 0)
      throw new WindowRequestError('ttl must be a duration like 30s or a number of milliseconds');
    body.update.ttlMs = ttlMs;
  }
  return body;
}

function describe(window: WindowInfo, traceId: string | undefined) {
  return {
    id: window.id,
    workload: window.workload,
    ...(window.deviceIds && { [DEVICE_ID_KEY]: window.deviceIds }),
    segmentStart: new Date(window.startMs).toISOString(),
    expiresAt: new Date(window.expiresAtMs).toISOString(),
    ...(traceId && { traceId }),
  };
}

export interface WindowsApiOptions {
  bodyTimeoutMs: number;
  /** Requests per second one client may make, with a two-second burst (config `windowClientRatePerSecond`). */
  clientRatePerSecond?: number;
  /** Why memory is too short to take a request now, or undefined: the daemon's memory guard, as for trace ingest. */
  memoryPressure: () => string | undefined;
  now?: () => number;
}

/** Clients whose rate is tracked at once; a flood from more addresses than this waits a second per new one. */
const MAX_RATE_LIMITED_CLIENTS = 65_536;
/** Retry-After when memory is short: the trace exporters' retry is as soon. */
const MEMORY_RETRY_MS = 1000;

/**
 * Who owns a window and whose rate a request counts against: the peer address. The ingest token
 * (when one is set) is one secret shared by every workload of the node, so it tells no two of them
 * apart; the peer address does (in Kubernetes, the pod's IP).
 */
function clientOf(request: IncomingMessage): string {
  // As spans name their sender (an IPv4 peer without the IPv4-mapped prefix), so a client's windows and spans are one sender.
  return peerIp(request.socket.remoteAddress) ?? '';
}

export function createWindowsApi(store: WindowStore, options: WindowsApiOptions) {
  const { bodyTimeoutMs } = options;
  const now = options.now ?? Date.now;
  const { memoryPressure } = options;
  const clientRatePerSecond = options.clientRatePerSecond ?? WINDOW_DEFAULTS.clientRatePerSecond;
  const clientRate = new KeyedRateLimiter(clientRatePerSecond, MAX_RATE_LIMITED_CLIENTS);

  /** Why this request must wait (rate or memory), or undefined. */
  function refusal(client: string): WindowLimitError | undefined {
    const waitMs = clientRate.take(client, now());
    if (waitMs > 0)
      return new WindowLimitError(`this client sends more than ${clientRatePerSecond} window requests a second (windowClientRatePerSecond)`, waitMs);
    const pressure = memoryPressure();
    return pressure === undefined ? undefined : new WindowLimitError(pressure, MEMORY_RETRY_MS);
  }

  async function open(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const context = extractRequestContext(request.headers);
    const workload = workloadFrom([context.baggage]);
    const body = await readWindowBody(request, bodyTimeoutMs);
    if (!namesWorkload(workload))
      throw new WindowRequestError('the baggage header must name ml.model, ml.job or ml.phase (W3C limits: within its first 180 members and 8192 bytes)');
    const id = body.id ?? randomUUID();
    const { window, created } = store.openWindow(id, { ...body.update, workload }, clientOf(request));
    sendJson(response, created ? 201 : 200, describe(window, context.traceId), { Location: `/v1/windows/${id}` });
  }

  async function update(id: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const context = extractRequestContext(request.headers);
    const body = await readWindowBody(request, bodyTimeoutMs);
    const workload = workloadFrom([context.baggage]);
    const window = store.heartbeat(id, { ...body.update, ...(namesWorkload(workload) && { workload }) }, clientOf(request));
    if (window) sendJson(response, 200, describe(window, context.traceId));
    else
      sendJsonError(
        response,
        404,
        `no open window '${id}' of this client (it ended or expired, or another address opened it); open it again with POST /v1/windows`,
      );
  }

  function end(id: string, request: IncomingMessage, response: ServerResponse): void {
    if (store.end(id, clientOf(request))) {
      response.writeHead(204);
      response.end();
    } else sendJsonError(response, 404, `no open window '${id}' of this client`);
  }

  /** Routes one request under /v1/windows; `id` is the path segment after it, if any. */
  return async function handleWindows(id: string | undefined, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const allowed = id === undefined ? 'POST' : 'PUT, DELETE';
    if (!allowed.split(', ').includes(request.method ?? '')) {
      sendJsonError(response, 405, `use ${allowed}`, { Allow: allowed });
      return;
    }
    if (id !== undefined && !WINDOW_ID.test(id)) {
      sendJsonError(response, 404, 'no such window');
      return;
    }
    try {
      const refused = refusal(clientOf(request));
      if (refused) throw refused;
      if (id === undefined) await open(request, response);
      else if (request.method === 'PUT') await update(id, request, response);
      else end(id, request, response);
    } catch (error) {
      if (error instanceof WindowRequestError) sendJsonError(response, 400, error.message);
      else if (error instanceof BodyError) sendJsonError(response, error.status, error.message, { Connection: 'close' });
      else if (error instanceof WindowLimitError)
        sendJsonError(response, 429, error.message, { 'Retry-After': String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))) });
      else throw error;
    }
  };
}
