// Windows: long phases (a training epoch, a checkpoint) announced by the workload itself instead of
// one span per request. A window is open from its first request until it is ended, or until it
// stops heart-beating for its TTL, in which case it ends at its last heartbeat. Changing the
// workload of an open window (a new phase) ends one segment and starts the next.
import type { Activity, ActivityProvider, Workload } from '../attribution/activity.ts';

export interface WindowStoreOptions {
  /** How long a window lives without a heartbeat, unless it asks for its own TTL. */
  defaultTtlMs: number;
  /** Longest TTL a window may ask for. */
  maxTtlMs?: number;
  /** How long ended segments are kept for the ledger, which closes intervals after its lag. */
  retainMs: number;
  /** Most windows open at once; more are refused (the API answers 429). */
  maxOpenWindows?: number;
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

/** Too many windows are open; retry after some have ended. */
export class WindowLimitError extends Error {}

interface OpenWindow {
  workload: Workload;
  deviceIds?: string[];
  segmentStartMs: number;
  lastHeartbeatMs: number;
  ttlMs: number;
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
  private readonly defaultTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly retainMs: number;
  private readonly maxOpenWindows: number;
  private readonly maxEndedSegments: number;
  private readonly now: () => number;
  private readonly open = new Map<string, OpenWindow>();
  /** Ended segments in the order they ended. */
  private ended: Segment[] = [];

  constructor(options: WindowStoreOptions) {
    this.defaultTtlMs = options.defaultTtlMs;
    this.maxTtlMs = options.maxTtlMs ?? Math.max(options.defaultTtlMs, 86_400_000);
    this.retainMs = options.retainMs;
    this.maxOpenWindows = options.maxOpenWindows ?? 10_000;
    this.maxEndedSegments = options.maxEndedSegments ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  /** Opens window `id`, or updates it when already open (so a retried open is harmless). */
  openWindow(id: string, update: WindowUpdate & { workload: Workload }): { window: WindowInfo; created: boolean } {
    this.expire();
    if (this.open.has(id)) return { window: this.heartbeat(id, update)!, created: false };
    if (this.open.size >= this.maxOpenWindows) throw new WindowLimitError(`${this.maxOpenWindows} windows are already open`);
    const nowMs = this.now();
    this.open.set(id, {
      workload: update.workload,
      ...(update.deviceIds && { deviceIds: update.deviceIds }),
      segmentStartMs: nowMs,
      lastHeartbeatMs: nowMs,
      ttlMs: this.clampTtl(update.ttlMs),
    });
    return { window: this.info(id)!, created: true };
  }

  /** Records a heartbeat, and a new segment when the workload or devices change; undefined when not open. */
  heartbeat(id: string, update: WindowUpdate = {}): WindowInfo | undefined {
    this.expire();
    const window = this.open.get(id);
    if (!window) return undefined;
    const nowMs = this.now();
    const workload = update.workload ?? window.workload;
    const deviceIds = update.deviceIds ?? window.deviceIds;
    if (!sameWorkload(workload, window.workload) || deviceIds?.join(',') !== window.deviceIds?.join(',')) {
      this.endSegment(window, nowMs);
      window.segmentStartMs = nowMs;
      window.workload = workload;
      if (deviceIds) window.deviceIds = deviceIds;
    }
    window.lastHeartbeatMs = nowMs;
    if (update.ttlMs !== undefined) window.ttlMs = this.clampTtl(update.ttlMs);
    return this.info(id);
  }

  /** Ends window `id` now; false when it is not open. */
  end(id: string): boolean {
    this.expire();
    const window = this.open.get(id);
    if (!window) return false;
    this.endSegment(window, this.now());
    this.open.delete(id);
    return true;
  }

  info(id: string): WindowInfo | undefined {
    const window = this.open.get(id);
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
    this.expire();
    return this.open.size;
  }

  /** Segments overlapping [startMs, endMs): ended ones, and open ones as running until now. */
  activitiesBetween(startMs: number, endMs: number): Activity[] {
    this.expire();
    const nowMs = this.now();
    const activities: Activity[] = [];
    const add = (segment: Segment) => {
      if (segment.startMs < endMs && segment.endMs > startMs) {
        activities.push({ source: 'window', workload: segment.workload, startMs: segment.startMs, endMs: segment.endMs, ...(segment.deviceIds && { deviceIds: segment.deviceIds }) });
      }
    };
    this.ended.forEach(add);
    for (const window of this.open.values()) add({ ...window, startMs: window.segmentStartMs, endMs: nowMs });
    return activities;
  }

  private clampTtl(ttlMs: number | undefined): number {
    return Math.min(Math.max(ttlMs ?? this.defaultTtlMs, 1000), this.maxTtlMs);
  }

  private endSegment(window: OpenWindow, endMs: number): void {
    if (endMs <= window.segmentStartMs) return;
    this.ended.push({ workload: window.workload, ...(window.deviceIds && { deviceIds: window.deviceIds }), startMs: window.segmentStartMs, endMs });
  }

  /** Ends windows past their TTL (at their last heartbeat) and forgets segments older than retainMs. */
  private expire(): void {
    const nowMs = this.now();
    for (const [id, window] of this.open) {
      if (nowMs > window.lastHeartbeatMs + window.ttlMs) {
        this.endSegment(window, window.lastHeartbeatMs);
        this.open.delete(id);
      }
    }
    const oldestKeptMs = nowMs - this.retainMs;
    const firstKept = this.ended.findIndex((segment) => segment.endMs >= oldestKeptMs);
    const dropUpTo = firstKept === -1 ? this.ended.length : firstKept;
    const overflow = this.ended.length - this.maxEndedSegments;
    if (dropUpTo > 0 || overflow > 0) this.ended = this.ended.slice(Math.max(dropUpTo, overflow));
  }
}
