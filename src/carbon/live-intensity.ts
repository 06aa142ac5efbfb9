// Polls a live provider on the refresh interval, feeds the timeline, and says in the log which value is in use.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { IntensityStatus } from './accountant.ts';
import { HttpStatusError } from './http.ts';
import type { IntensityTimeline, IntensityValue } from './intensity-timeline.ts';
import type { IntensityProvider } from './providers/provider.ts';

export interface LiveIntensityOptions {
  /** Clock for refresh bookkeeping; tests inject a simulated one. */
  now?: () => number;
}

/** Points are kept this long after they stop holding, so late-closing intervals still find their value. */
const HISTORY_MS = 24 * 3_600_000;

export class LiveIntensity {
  /** Whether the latest refresh produced fresh data; `live` vs `last_good` in IntensityStatus. */
  lastRefreshOk = false;
  /** Why the latest refresh failed, for answers that must state a fallback (the plan API). */
  lastError?: string;
  #timer: NodeJS.Timeout | undefined;
  /** A 429 Retry-After beyond the HTTP layer's patience: no request before this instant. */
  #notBeforeMs = 0;
  #loggedState: string | undefined;
  readonly #now: () => number;

  readonly #provider: IntensityProvider;
  readonly #timeline: IntensityTimeline;
  readonly #config: Pick<Config, 'intensityRefresh' | 'intensityMaxAge'>;
  readonly #logger: Logger;

  constructor(
    provider: IntensityProvider,
    timeline: IntensityTimeline,
    config: Pick<Config, 'intensityRefresh' | 'intensityMaxAge'>,
    logger: Logger,
    options: LiveIntensityOptions = {},
  ) {
    this.#provider = provider;
    this.#timeline = timeline;
    this.#config = config;
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
  }

  async start(nowMs: number): Promise<void> {
    await this.refresh(nowMs);
    this.#schedule();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async refresh(nowMs: number): Promise<void> {
    if (nowMs < this.#notBeforeMs) return;
    try {
      const reading = await this.#provider.read(nowMs);
      const dataAgeMs = nowMs - reading.observedAtMs;
      if (dataAgeMs >= this.#config.intensityMaxAge) {
        throw new Error(`stale data: the provider's newest value is ${Math.round(dataAgeMs / 1000)} s old`);
      }
      this.#timeline.record(reading.points, nowMs);
      this.#timeline.prune(nowMs - HISTORY_MS);
      this.lastRefreshOk = true;
      this.lastError = undefined;
    } catch (error) {
      this.lastRefreshOk = false;
      this.lastError = (error as Error).message;
      if (error instanceof HttpStatusError && error.retryAfterMs !== undefined) this.#notBeforeMs = nowMs + error.retryAfterMs;
      this.#logger.warn(
        { provider: this.#provider.name, error: (error as Error).message, status: (error as HttpStatusError).status },
        'carbon: intensity refresh failed',
      );
    }
    const value = this.#timeline.valueAt(nowMs);
    this.noteState(stateOf(value, this.lastRefreshOk), value, nowMs);
  }

  /** Logs once per change of state or source, so an operator sees each fallback and recovery. */
  noteState(state: IntensityStatus['state'], value: IntensityValue, nowMs: number): void {
    const key = `${state}/${value.source}`;
    if (key === this.#loggedState) return;
    this.#loggedState = key;
    const fields = { state, source: value.source, signal: value.signal, gramsPerKwh: value.gramsPerKwh, provider: this.#provider.name };
    if (state === 'live') {
      this.#logger.info(fields, `carbon: intensity from ${this.#provider.name} (live)`);
    } else if (state === 'last_good') {
      const ageSeconds = value.fetchedAtMs === undefined ? 0 : (nowMs - value.fetchedAtMs) / 1000;
      this.#logger.warn({ ...fields, ageSeconds }, `carbon: ${this.#provider.name} failing; using its last good value until it is older than intensityMaxAge`);
    } else {
      // A marginal provider falling back to an average: emissions counters now add up two kinds of grams.
      const mixing = this.#provider.signal === 'marginal' ? ' (an average signal: emissions from here on are not marginal)' : '';
      this.#logger.warn(fields, `carbon: no fresh ${this.#provider.name} value; using the static annual average${mixing}`);
    }
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      void this.refresh(this.#now()).finally(() => {
        if (this.#timer) this.#schedule();
      });
    }, this.#config.intensityRefresh);
    this.#timer.unref();
  }
}

export function stateOf(value: IntensityValue, lastRefreshOk: boolean): IntensityStatus['state'] {
  if (value.fetchedAtMs === undefined) return 'static';
  return lastRefreshOk ? 'live' : 'last_good';
}
