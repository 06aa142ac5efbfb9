// Windows: long phases (a training epoch, a checkpoint) announced by the workload itself instead of
// one span per request. A window is open from its first request until it is ended, or until it
// stops heart-beating for its TTL, in which case it ends at its last heartbeat. Changing the
// workload of an open window (a new phase) ends one segment and starts the next.
//
// A window belongs to the client that opened it: windows are keyed by (client, id), so another
// client naming the same id reaches a window of its own, or none (404), never the owner's. Ids are
// capabilities only within a client, and nothing a client sends tells it whether another client's
// id exists. Each window may be updated at most `ratePerSecond` times a second (with a burst), and
// a phase change is refused while the ended segments fill their byte bound.
import type { Activity, ActivityProvider, Workload } from '../attribution/activity.ts';
import { WINDOW_DEFAULTS } from '../config.ts';
import { ExpiryHeap } from './expiry-heap.ts';
import { TokenBucket } from './rate-limit.ts';
import { SegmentLog } from './window-segments.ts';

export interface WindowStoreOptions {
  /** How long a window lives without a heartbeat, unless it asks for its own TTL. */
  defaultTtlMs: number;
  /** Longest TTL a window may ask for (config `windowMaxTtl`); longer asks are cut to it. */
  maxTtlMs?: number;
  /** How long ended segments are kept for the ledger, which closes intervals after its lag. */
  retainMs: number;
  /** Most windows open at once; more are refused (the API answers 429). */
  maxOpenWindows?: number;
  /** Most windows one client (peer address) may hold open, so one client cannot starve the rest (config `windowsPerClient`). */
  maxWindowsPerClient?: number;
  /** Bytes of ended segments kept (config `windowSegmentMaxBytes`); a phase change past it is refused (429). */
  maxSegmentBytes?: number;
  /** Updates (re-opens and heartbeats) per second one window may make, with a two-second burst (config `windowRatePerSecond`). */
  ratePerSecond?: number;
  now?: () => number;
}

export interface WindowUpdate {
  workload?: Workload;
  /** Devices it runs on; undefined keeps the current ones (every device when never set). */
  deviceIds?: string[];
  ttlMs?: number;
}

export interface WindowInfo {
  id: string;
  workload: Workload;
  deviceIds?: string[];
  startMs: number;
  /** When the window expires unless it heartbeats again. */
  expiresAtMs: number;
}

/** Too many windows, too many updates, or no room for another segment: retry after `retryAfterMs`. */
export class WindowLimitError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** Retry-After for a full table of open windows: windows end at their owners' pace. */
const FULL_TABLE_RETRY_MS = 10_000;

interface OpenWindow {
  workload: Workload;
  deviceIds?: string[];
  segmentStartMs: number;
  lastHeartbeatMs: number;
  ttlMs: number;
  client: string;
  /** When its entry in the expiry heap comes due; the entry is stale when this differs. */
  scheduledMs: number;
  updates: TokenBucket;
}

/** Ids are 1-128 of A-Z a-z 0-9 . _ ~ - (no space), so the key is unambiguous for any client string. */
function windowKey(client: string, id: string): string {
  return `${client} ${id}`;
}

function sameWorkload(a: Workload, b: Workload): boolean {
  return a.model === b.model && a.job === b.job && a.phase === b.phase && a.namespace === b.namespace && a.pod === b.pod;
}

export class WindowStore implements ActivityProvider {
  readonly name = 'windows';
  readonly #defaultTtlMs: number;
  readonly #maxTtlMs: number;
  readonly #retainMs: number;
  readonly #maxOpenWindows: number;
  readonly #maxWindowsPerClient: number;
  readonly #ratePerSecond: number;
  readonly #now: () => number;
  /** Open windows by `windowKey(client, id)`. */
  readonly #open = new Map<string, OpenWindow>();
  readonly #openPerClient = new Map<string, number>();
  /** One live entry per open window (plus stale ones, dropped when they come due or the heap is rebuilt). */
  readonly #expiries = new ExpiryHeap<{ key: string; window: OpenWindow }>();
  readonly #ended: SegmentLog;

  constructor(options: WindowStoreOptions) {
    this.#defaultTtlMs = options.defaultTtlMs;
    this.#maxTtlMs = options.maxTtlMs ?? Math.max(options.defaultTtlMs, 600_000);
    this.#retainMs = options.retainMs;
    this.#maxOpenWindows = options.maxOpenWindows ?? 10_000;
    this.#maxWindowsPerClient = options.maxWindowsPerClient ?? 1000;
    this.#ended = new SegmentLog(options.maxSegmentBytes ?? WINDOW_DEFAULTS.segmentMaxBytes);
    this.#ratePerSecond = options.ratePerSecond ?? WINDOW_DEFAULTS.ratePerSecond;
    this.#now = options.now ?? Date.now;
  }

  /** Opens window `id` for `client` (its peer address), or updates it when that client has it open (so a retried open is harmless). */
  openWindow(id: string, update: WindowUpdate & { workload: Workload }, client: string): { window: WindowInfo; created: boolean } {
    this.#expire();
    const key = windowKey(client, id);
    if (this.#open.has(key)) return { window: this.heartbeat(id, update, client)!, created: false };
    if (this.#open.size >= this.#maxOpenWindows) throw new WindowLimitError(`${this.#maxOpenWindows} windows are already open`, FULL_TABLE_RETRY_MS);
    const clientOpen = this.#openPerClient.get(client) ?? 0;
    if (clientOpen >= this.#maxWindowsPerClient)
      throw new WindowLimitError(`this client already holds ${clientOpen} open windows, the limit per client (windowsPerClient)`, FULL_TABLE_RETRY_MS);
    const nowMs = this.#now();
    const ttlMs = this.#clampTtl(update.ttlMs);
    const window: OpenWindow = {
      workload: update.workload,
      ...(update.deviceIds && { deviceIds: update.deviceIds }),
      segmentStartMs: nowMs,
      lastHeartbeatMs: nowMs,
      ttlMs,
      client,
      scheduledMs: nowMs + ttlMs,
      updates: new TokenBucket(this.#ratePerSecond, nowMs),
    };
    this.#open.set(key, window);
    this.#openPerClient.set(client, clientOpen + 1);
    this.#expiries.push(window.scheduledMs, { key, window });
    return { window: this.info(id, client)!, created: true };
  }

  /**
   * Records a heartbeat of `client`'s window `id`, and a new segment when the workload or devices
   * change; undefined when that client has no such window open. Throws WindowLimitError past the
   * window's update rate, or when a new segment would not fit under the byte bound.
   */
  heartbeat(id: string, update: WindowUpdate, client: string): WindowInfo | undefined {
    this.#expire();
    const window = this.#open.get(windowKey(client, id));
    if (!window) return undefined;
    const nowMs = this.#now();
    const waitMs = window.updates.take(nowMs);
    if (waitMs > 0) throw new WindowLimitError(`window '${id}' is updated faster than ${this.#ratePerSecond} times a second (windowRatePerSecond)`, waitMs);
    const workload = update.workload ?? window.workload;
    const deviceIds = update.deviceIds ?? window.deviceIds;
    if (!sameWorkload(workload, window.workload) || deviceIds?.join(',') !== window.deviceIds?.join(',')) {
      if (!this.#ended.hasRoomFor(window.workload, window.deviceIds)) {
        // Room comes back as the oldest segment ages out of the ledger's reach.
        const freedAtMs = (this.#ended.oldestEndMs ?? nowMs) + this.#retainMs;
        throw new WindowLimitError(
          `ended window segments hold ${this.#ended.bytes} bytes, the limit (windowSegmentMaxBytes); the phase change is refused, the window stays as it was`,
          Math.max(1000, freedAtMs - nowMs),
        );
      }
      this.#endSegment(window, nowMs);
      window.segmentStartMs = nowMs;
      window.workload = workload;
      if (deviceIds) window.deviceIds = deviceIds;
    }
    window.lastHeartbeatMs = nowMs;
    if (update.ttlMs !== undefined) window.ttlMs = this.#clampTtl(update.ttlMs);
    // A later expiry is found when the current entry comes due; an earlier one (shorter TTL) needs its own entry.
    if (nowMs + window.ttlMs < window.scheduledMs) {
      window.scheduledMs = nowMs + window.ttlMs;
      this.#expiries.push(window.scheduledMs, { key: windowKey(client, id), window });
    }
    return this.info(id, client);
  }

  /** Ends `client`'s window `id` now; false when that client has no such window open. */
  end(id: string, client: string): boolean {
    this.#expire();
    const key = windowKey(client, id);
    const window = this.#open.get(key);
    if (!window) return false;
    this.#endSegment(window, this.#now());
    this.#close(key, window);
    return true;
  }

  info(id: string, client: string): WindowInfo | undefined {
    const window = this.#open.get(windowKey(client, id));
    if (!window) return undefined;
    return {
      id,
      workload: window.workload,
      ...(window.deviceIds && { deviceIds: window.deviceIds }),
      startMs: window.segmentStartMs,
      expiresAtMs: window.lastHeartbeatMs + window.ttlMs,
    };
  }

  get openCount(): number {
    this.#expire();
    return this.#open.size;
  }

  /** Bytes the ended segments are charged (at most about windowSegmentMaxBytes, plus one segment per window that ended since). */
  get segmentBytes(): number {
    this.#expire();
    return this.#ended.bytes;
  }

  /** Segments overlapping [startMs, endMs): ended ones, and open ones as running until now. */
  activitiesBetween(startMs: number, endMs: number): Activity[] {
    this.#expire();
    const nowMs = this.#now();
    const activities: Activity[] = [];
    // A window's sender is its client, as a span's is its export's peer: a client's windows and spans share one sender's share.
    const add = (workload: Workload, deviceIds: string[] | undefined, client: string, segmentStartMs: number, segmentEndMs: number) => {
      if (segmentStartMs < endMs && segmentEndMs > startMs) {
        activities.push({
          source: 'window',
          workload,
          startMs: segmentStartMs,
          endMs: segmentEndMs,
          senderKey: client,
          ...(deviceIds && { deviceIds }),
        });
      }
    };
    for (const segment of this.#ended) add(segment.workload, segment.deviceIds, segment.client, segment.startMs, segment.endMs);
    for (const window of this.#open.values()) add(window.workload, window.deviceIds, window.client, window.segmentStartMs, nowMs);
    return activities;
  }

  #clampTtl(ttlMs: number | undefined): number {
    return Math.min(Math.max(ttlMs ?? this.#defaultTtlMs, 1000), this.#maxTtlMs);
  }

  #endSegment(window: OpenWindow, endMs: number): void {
    if (endMs <= window.segmentStartMs) return;
    this.#ended.push(window.workload, window.deviceIds, window.client, window.segmentStartMs, endMs);
  }

  #close(key: string, window: OpenWindow): void {
    this.#open.delete(key);
    const clientOpen = (this.#openPerClient.get(window.client) ?? 1) - 1;
    if (clientOpen > 0) this.#openPerClient.set(window.client, clientOpen);
    else this.#openPerClient.delete(window.client);
    // Ended windows leave stale entries; rebuild before they outnumber the live ones.
    if (this.#expiries.size > 2 * this.#open.size + 1024) {
      this.#expiries.rebuild([...this.#open].map(([openKey, openWindow]) => ({ atMs: openWindow.scheduledMs, item: { key: openKey, window: openWindow } })));
    }
  }

  /** Ends windows past their TTL (at their last heartbeat) and forgets segments older than retainMs. */
  #expire(): void {
    const nowMs = this.#now();
    for (let due = this.#expiries.peek(); due && due.atMs < nowMs; due = this.#expiries.peek()) {
      this.#expiries.pop();
      const { key, window } = due.item;
      if (this.#open.get(key) !== window || window.scheduledMs !== due.atMs) continue; // stale entry
      const expiresAtMs = window.lastHeartbeatMs + window.ttlMs;
      if (nowMs > expiresAtMs) {
        this.#endSegment(window, window.lastHeartbeatMs);
        this.#close(key, window);
      } else {
        window.scheduledMs = expiresAtMs;
        this.#expiries.push(expiresAtMs, due.item);
      }
    }
    this.#ended.dropEndedBefore(nowMs - this.#retainMs);
  }
}
