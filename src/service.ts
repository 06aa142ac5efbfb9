// The daemon's parts as services: each has a name, a start that takes its resources (a socket, a
// timer, a watch, a worker thread) and a close that gives them back. Started in order; a start that
// fails closes, newest first, what had started; close goes newest first too, never stops at the first
// failure, and logs every failure under the service's name (the pattern of Kepler's internal/service).
import type { Logger } from 'pino';
import { ConfigError } from './config.ts';
import { StartupError } from './listener.ts';

export interface Service {
  /** Names the part in logs and in a start-up failure, e.g. 'metrics listener'. */
  readonly name: string;
  start?(): Promise<void>;
  close?(): Promise<void>;
}

/** A service's close that failed (or had not finished when the shutdown timed out). */
export interface CloseFailure {
  service: string;
  error: Error;
}

/** Services started in order, closed newest first. */
export class Services {
  readonly #started: Service[] = [];
  readonly #logger: Logger;
  #closing: string | undefined;

  constructor(logger: Logger) {
    this.#logger = logger.child({ component: 'lifecycle' });
  }

  /**
   * Starts `service`; it is closed by `close()` from then on. A failed start closes nothing itself
   * (see `startAll`); its error names the service unless it is already a one-line start-up error.
   */
  async start<S extends Service>(service: S): Promise<S> {
    try {
      await service.start?.();
    } catch (error) {
      if (error instanceof StartupError || error instanceof ConfigError) throw error;
      throw new StartupError(`${service.name}: cannot start: ${(error as Error).message ?? String(error)}`, { cause: error });
    }
    this.#started.push(service);
    this.#logger.debug({ service: service.name }, 'service started');
    return service;
  }

  /** The common shape where opening yields a handle: a service whose start is `open` and whose close is `close(handle)`. */
  async open<T>(name: string, open: () => Promise<T>, close: (handle: T) => Promise<void>): Promise<T> {
    let handle: T | undefined;
    await this.start({
      name,
      start: async () => {
        handle = await open();
      },
      close: () => close(handle as T),
    });
    return handle as T;
  }

  /** The service whose close is running now. */
  get closing(): string | undefined {
    return this.#closing;
  }

  /** Closes every started service, newest first, each once; returns (and logs) the ones that failed. */
  async close(): Promise<CloseFailure[]> {
    const failures: CloseFailure[] = [];
    while (this.#started.length > 0) {
      const service = this.#started.pop()!;
      this.#closing = service.name;
      try {
        await service.close?.();
        this.#logger.debug({ service: service.name }, 'service closed');
      } catch (error) {
        const failure = { service: service.name, error: error instanceof Error ? error : new Error(String(error)) };
        this.#logger.error({ service: failure.service, err: failure.error }, `${failure.service}: close failed: ${failure.error.message}`);
        failures.push(failure);
      }
    }
    this.#closing = undefined;
    return failures;
  }
}

/**
 * Runs `compose`, which starts services through the `Services` it is given; when any step throws,
 * closes what had started (newest first) and rethrows, so a failed start leaves no socket, timer or worker behind.
 */
export async function startAll<T>(logger: Logger, compose: (services: Services) => Promise<T>): Promise<{ services: Services; value: T }> {
  const services = new Services(logger);
  try {
    return { services, value: await compose(services) };
  } catch (error) {
    await services.close();
    throw error;
  }
}
