// A timer-driven loop as a service: the tick loop and rediscovery. A run that outlasts the interval
// skips the next beat instead of piling runs up; close waits for a run in progress.
import type { Service } from './service.ts';

export interface RepeatingTaskOptions {
  name: string;
  task: () => Promise<void>;
  intervalMs: number;
  /** A failed run is reported and the loop goes on (a tick that fails once may succeed next time). */
  onError: (error: Error) => void;
  /** Run once inside start, so a failing first run fails the start. */
  runAtStart?: boolean;
}

export class RepeatingTask implements Service {
  readonly name: string;
  readonly #options: RepeatingTaskOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: RepeatingTaskOptions) {
    this.name = options.name;
    this.#options = options;
  }

  async start(): Promise<void> {
    const { task, intervalMs, onError, runAtStart } = this.#options;
    if (runAtStart) await task();
    this.#timer = setInterval(() => {
      this.#running ??= task()
        .catch(onError)
        .finally(() => (this.#running = undefined));
    }, intervalMs);
  }

  /** Stops the timer and waits for a run in progress, so nothing touches the sources after they close. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
