// JSON over HTTP for intensity providers: a timeout per attempt, retry with exponential backoff and
// full jitter on network errors, 429 and 5xx, and Retry-After honoured. Headers are never logged.

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    /** From Retry-After (seconds or HTTP date), when the server sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(`HTTP ${status} from ${url}`);
  }
}

/** The server answered 2xx but not with what the provider documents; retrying the same request won't help. */
export class MalformedResponseError extends Error {}

export interface HttpOptions {
  fetch?: typeof fetch;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Attempts in total, first included. */
  attempts?: number;
  /** First backoff step; attempt n waits random() x baseDelayMs x 2^(n-1). */
  baseDelayMs?: number;
  /** A Retry-After longer than this is not waited out here; the error goes to the caller instead. */
  maxRetryAfterMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export async function getJson(url: string, headers: Record<string, string>, options: HttpOptions = {}): Promise<unknown> {
  const {
    fetch: fetchImpl = fetch,
    timeoutMs = 10_000,
    attempts = 3,
    baseDelayMs = 1000,
    maxRetryAfterMs = 60_000,
    sleep = defaultSleep,
    random = Math.random,
    now = Date.now,
  } = options;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await getOnce(fetchImpl, url, headers, timeoutMs, now);
    } catch (error) {
      lastError = error;
      if (!isRetryable(error) || attempt === attempts) break;
      const retryAfterMs = error instanceof HttpStatusError ? error.retryAfterMs : undefined;
      if (retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs) break;
      await sleep(retryAfterMs ?? random() * baseDelayMs * 2 ** (attempt - 1));
    }
  }
  throw lastError;
}

async function getOnce(fetchImpl: typeof fetch, url: string, headers: Record<string, string>, timeoutMs: number, now: () => number): Promise<unknown> {
  const response = await fetchImpl(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) {
    await response.body?.cancel();
    throw new HttpStatusError(response.status, redactQuery(url), parseRetryAfter(response.headers.get('retry-after'), now()));
  }
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedResponseError(`malformed JSON from ${redactQuery(url)}: ${text.slice(0, 80)}`);
  }
}

function isRetryable(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.status === 429 || error.status >= 500;
  // Timeouts (AbortSignal.timeout) and connection errors surface as TypeError / DOMException from fetch.
  return !(error instanceof MalformedResponseError);
}

function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const dateMs = Date.parse(value);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs);
}

/** Query strings can carry zones or keys; messages keep only the path. */
function redactQuery(url: string): string {
  const index = url.indexOf('?');
  return index === -1 ? url : url.slice(0, index);
}
