// List-then-watch of one collection, as client-go's reflector does it
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
// GET the list, then GET ?watch=true from the list's metadata.resourceVersion; the watch answers with
// newline-delimited JSON events `{type, object}` (ADDED, MODIFIED, DELETED; BOOKMARK carries only a
// newer resourceVersion, #watch-bookmarks; ERROR carries a Status, code 410 when that version has
// left the server's history). A watch that ends is resumed from the last version seen; 410 Gone means
// list again; any failure waits (doubling, capped) and lists again.
import type { IncomingMessage } from 'node:http';
import { ApiError, get, readBody, type ApiServer } from './api-client.ts';

interface ListWatchHandlers<T> {
  /** The whole collection, from a list: what is not in it is gone. */
  replace(items: T[]): void;
  put(item: T): void;
  remove(item: T): void;
}

export interface ListWatchOptions<T> {
  api: ApiServer;
  /** The collection, e.g. /api/v1/pods. */
  path: string;
  fieldSelector: string;
  /** Validates one object from the server (throws naming the bad key). */
  parse(object: unknown): T;
  handlers: ListWatchHandlers<T>;
  /** First wait after a failure; it doubles up to maxRetryMs and resets after a list succeeds. */
  retryMs: number;
  maxRetryMs?: number;
  onError(error: unknown): void;
}

/** A node's pod list is at most a few MB (110 pods by default); this leaves room and still bounds it. */
const MAX_LIST_BYTES = 64 * 1024 * 1024;
/** One watch event is one object; etcd refuses objects over 1.5 MiB. Counted in characters as they are decoded. */
const MAX_EVENT_CHARS = 4 * 1024 * 1024;
/** A list that has not finished by then failed (the daemon's start waits for the first one). */
const LIST_TIMEOUT_MS = 60_000;
/** The server ends each watch after a random 5-10 min, as client-go asks, so tokens and connections renew. */
const MIN_WATCH_SECONDS = 300;
/** Past the requested timeout, a silent watch is a dead connection. */
const WATCH_GRACE_MS = 30_000;

/** A watch that ends sooner than this waits retryMs before the next. */
const QUICK_WATCH_MS = 1000;

class Gone extends Error {}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

interface WatchEvent {
  type: string;
  object: { metadata?: { resourceVersion?: string }; code?: number; message?: string };
}

export class ListWatch<T> {
  readonly #options: ListWatchOptions<T>;
  #abort = new AbortController();
  #running: Promise<void> | undefined;

  constructor(options: ListWatchOptions<T>) {
    this.#options = options;
  }

  /** Starts listing and watching; resolves once the first list has been applied (or has failed). */
  async start(): Promise<void> {
    this.#abort = new AbortController();
    await new Promise<void>((listed) => {
      this.#running = this.#run(listed);
    });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #run(listed: () => void): Promise<void> {
    const { retryMs, maxRetryMs = 60_000, onError } = this.#options;
    const signal = this.#abort.signal;
    let waitMs = retryMs;
    while (!signal.aborted) {
      try {
        let resourceVersion = await this.#list(signal);
        listed();
        waitMs = retryMs;
        for (;;) {
          const startedMs = Date.now();
          resourceVersion = await this.#watch(resourceVersion, signal);
          // A server that ends watches at once (overloaded, or a proxy cutting streams) is not asked again in a tight loop.
          if (Date.now() - startedMs < QUICK_WATCH_MS) await sleep(retryMs, signal);
        }
      } catch (error) {
        listed();
        if (signal.aborted) return;
        if (error instanceof Gone) continue;
        onError(error);
        await sleep(waitMs, signal);
        waitMs = Math.min(2 * waitMs, maxRetryMs);
      }
    }
  }

  #query(extra: string): string {
    return `${this.#options.path}?fieldSelector=${encodeURIComponent(this.#options.fieldSelector)}${extra}`;
  }

  async #list(signal: AbortSignal): Promise<string> {
    const guard = AbortSignal.any([signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]);
    const response = await get(this.#options.api, this.#query(''), guard);
    const list = JSON.parse(await readBody(response, MAX_LIST_BYTES)) as { metadata?: { resourceVersion?: string }; items?: unknown[] };
    const resourceVersion = list.metadata?.resourceVersion;
    if (typeof resourceVersion !== 'string' || !Array.isArray(list.items))
      throw new Error(`kubernetes API ${this.#options.path}: list without metadata.resourceVersion or items`);
    this.#options.handlers.replace(list.items.map((item) => this.#options.parse(item)));
    return resourceVersion;
  }

  /** One watch request; returns the last resourceVersion seen when the server ends it. */
  async #watch(fromVersion: string, signal: AbortSignal): Promise<string> {
    const timeoutSeconds = MIN_WATCH_SECONDS + Math.floor(Math.random() * MIN_WATCH_SECONDS);
    const guard = AbortSignal.any([signal, AbortSignal.timeout(timeoutSeconds * 1000 + WATCH_GRACE_MS)]);
    let response: IncomingMessage;
    try {
      response = await get(
        this.#options.api,
        this.#query(`&watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(fromVersion)}&timeoutSeconds=${timeoutSeconds}`),
        guard,
      );
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 410) throw new Gone();
      throw error;
    }
    let resourceVersion = fromVersion;
    let pending = '';
    for await (const chunk of response.setEncoding('utf8') as AsyncIterable<string>) {
      pending += chunk;
      if (pending.length > MAX_EVENT_CHARS) throw new Error(`kubernetes API ${this.#options.path}: watch event longer than ${MAX_EVENT_CHARS} characters`);
      for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') resourceVersion = this.#apply(JSON.parse(line) as WatchEvent, resourceVersion);
      }
    }
    return resourceVersion;
  }

  #apply(event: WatchEvent, resourceVersion: string): string {
    const { handlers, parse, path } = this.#options;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        handlers.put(parse(event.object));
        break;
      case 'DELETED':
        handlers.remove(parse(event.object));
        break;
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (event.object.code === 410) throw new Gone();
        throw new ApiError(event.object.code ?? 0, `kubernetes API ${path}: watch ERROR ${event.object.code}: ${event.object.message}`);
      default:
        throw new Error(`kubernetes API ${path}: unknown watch event type ${JSON.stringify(event.type)}`);
    }
    return event.object.metadata?.resourceVersion ?? resourceVersion;
  }
}
