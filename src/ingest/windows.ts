// Windows: long phases (a training epoch, a checkpoint) announced by the workload itself instead of
// one span per request. A window is open from its first request until it is ended, or until it
// stops heart-beating for its TTL, in which case it ends at its last heartbeat. Changing the
// workload of an open window (a new phase) ends one segment and starts the next.
import type { Activity, ActivityProvider, Workload } from '../attribution/activity.ts';
import { ExpiryHeap } from './expiry-heap.ts';

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
  /** Most ended segments kept; the oldest go first. Bounds memory against a client flipping phases. */
  maxEndedSegments?: number;
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

/** Windows a client opens without naming itself count under this key. */
const ANONYMOUS_CLIENT = '';

/** Too many windows are open; retry after some have ended. */
export class WindowLimitError extends Error {}

interface OpenWindow {
  workload: Workload;
  deviceIds?: string[];
  segmentStartMs: number;
  lastHeartbeatMs: number;
  ttlMs: number;
  client: string;
  /** When its entry in the expiry heap comes due; the entry is stale when this differs. */
  scheduledMs: number;
}

interface Segment {
  workload: Workload;
  deviceIds?: string[];
  startMs: number;
  endMs: number;
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
  readonly #maxEndedSegments: number;
  readonly #now: () => number;
  readonly #open = new Map<string, OpenWindow>();
  readonly #openPerClient = new Map<string, number>();
  /** One live entry per open window (plus stale ones, dropped when they come due or the heap is rebuilt). */
  readonly #expiries = new ExpiryHeap<{ id: string; window: OpenWindow }>();
  /** Ended segments in the order they ended. */
  #ended: Segment[] = [];

  constructor(options: WindowStoreOptions) {
    this.#defaultTtlMs = options.defaultTtlMs;
    this.#maxTtlMs = options.maxTtlMs ?? Math.max(options.defaultTtlMs, 600_000);
    this.#retainMs = options.retainMs;
    this.#maxOpenWindows = options.maxOpenWindows ?? 10_000;
    this.#maxWindowsPerClient = options.maxWindowsPerClient ?? 1000;
    this.#maxEndedSegments = options.maxEndedSegments ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** Opens window `id` for `client` (its peer address), or updates it when already open (so a retried open is harmless). */
  openWindow(id: string, update: WindowUpdate & { workload: Workload }, client = ANONYMOUS_CLIENT): { window: WindowInfo; created: boolean } {
    this.#expire();
    if (this.#open.has(id)) return { window: this.heartbeat(id, update)!, created: false };
    if (this.#open.size >= this.#maxOpenWindows) throw new WindowLimitError(`${this.#maxOpenWindows} windows are already open`);
    const clientOpen = this.#openPerClient.get(client) ?? 0;
    if (clientOpen >= this.#maxWindowsPerClient)
      throw new WindowLimitError(`this client already holds ${clientOpen} open windows, the limit per client (windowsPerClient)`);
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
    };
    this.#open.set(id, window);
    this.#openPerClient.set(client, clientOpen + 1);
    this.#expiries.push(window.scheduledMs, { id, window });
    return { window: this.info(id)!, created: true };
  }

  /** Records a heartbeat, and a new segment when the workload or devices change; undefined when not open. */
  heartbeat(id: string, update: WindowUpdate = {}): WindowInfo | undefined {
    this.#expire();
    const window = this.#open.get(id);
    if (!window) return undefined;
    const nowMs = this.#now();
    const workload = update.workload ?? window.workload;
    const deviceIds = update.deviceIds ?? window.deviceIds;
    if (!sameWorkload(workload, window.workload) || deviceIds?.join(',') !== window.deviceIds?.join(',')) {
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
      this.#expiries.push(window.scheduledMs, { id, window });
    }
    return this.info(id);
  }

  /** Ends window `id` now; false when it is not open. */
  end(id: string): boolean {
    this.#expire();
    const window = this.#open.get(id);
    if (!window) return false;
    this.#endSegment(window, this.#now());
    this.#close(id, window);
    return true;
  }

  info(id: string): WindowInfo | undefined {
    const window = this.#open.get(id);
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

  /** Segments overlapping [startMs, endMs): ended ones, and open ones as running until now. */
  activitiesBetween(startMs: number, endMs: number): Activity[] {
    this.#expire();
    const nowMs = this.#now();
    const activities: Activity[] = [];
    const add = (segment: Segment) => {
      if (segment.startMs < endMs && segment.endMs > startMs) {
        activities.push({
          source: 'window',
          workload: segment.workload,
          startMs: segment.startMs,
          endMs: segment.endMs,
          ...(segment.deviceIds && { deviceIds: segment.deviceIds }),
        });
      }
    };
    this.#ended.forEach(add);
    for (const window of this.#open.values()) add({ ...window, startMs: window.segmentStartMs, endMs: nowMs });
    return activities;
  }

  #clampTtl(ttlMs: number | undefined): number {
    return Math.min(Math.max(ttlMs ?? this.#defaultTtlMs, 1000), this.#maxTtlMs);
  }

  #endSegment(window: OpenWindow, endMs: number): void {
    if (endMs <= window.segmentStartMs) return;
    this.#ended.push({ workload: window.workload, ...(window.deviceIds && { deviceIds: window.deviceIds }), startMs: window.segmentStartMs, endMs });
  }

  #close(id: string, window: OpenWindow): void {
    this.#open.delete(id);
    const clientOpen = (this.#openPerClient.get(window.client) ?? 1) - 1;
    if (clientOpen > 0) this.#openPerClient.set(window.client, clientOpen);
    else this.#openPerClient.delete(window.client);
    // Ended windows leave stale entries; rebuild before they outnumber the live ones.
    if (this.#expiries.size > 2 * this.#open.size + 1024) {
      this.#expiries.rebuild([...this.#open].map(([openId, openWindow]) => ({ atMs: openWindow.scheduledMs, item: { id: openId, window: openWindow } })));
    }
  }

  /** Ends windows past their TTL (at their last heartbeat) and forgets segments older than retainMs. */
  #expire(): void {
    const nowMs = this.#now();
    for (let due = this.#expiries.peek(); due && due.atMs < nowMs; due = this.#expiries.peek()) {
      this.#expiries.pop();
      const { id, window } = due.item;
      if (this.#open.get(id) !== window || window.scheduledMs !== due.atMs) continue; // stale entry
      const expiresAtMs = window.lastHeartbeatMs + window.ttlMs;
      if (nowMs > expiresAtMs) {
        this.#endSegment(window, window.lastHeartbeatMs);
        this.#close(id, window);
      } else {
        window.scheduledMs = expiresAtMs;
        this.#expiries.push(expiresAtMs, due.item);
      }
    }
    const oldestKeptMs = nowMs - this.#retainMs;
    const firstKept = this.#ended.findIndex((segment) => segment.endMs >= oldestKeptMs);
    const dropUpTo = firstKept === -1 ? this.#ended.length : firstKept;
    const overflow = this.#ended.length - this.#maxEndedSegments;
    if (dropUpTo > 0 || overflow > 0) this.#ended = this.#ended.slice(Math.max(dropUpTo, overflow));
  }
}
