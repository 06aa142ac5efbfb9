// The service runner on its own: start order, rollback newest first on a failed start, every close
// attempted and every failure logged under its service, and a start failure that names the service.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StartupError } from '../src/listener.ts';
import { startAll, type Service } from '../src/service.ts';

function recordingLogger() {
  const records: Array<{ level: number; msg: string; service?: string }> = [];
  return { logger: pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line)) }), records };
}

/** A service that records its start and close in `events`, and fails where told. */
function part(name: string, events: string[], fail: { start?: Error; close?: Error } = {}): Service {
  return {
    name,
    start: async () => {
      events.push(`start ${name}`);
      if (fail.start) throw fail.start;
    },
    close: async () => {
      events.push(`close ${name}`);
      if (fail.close) throw fail.close;
    },
  };
}

describe('services', () => {
  it('a failed start closes what started, newest first, and names the service', async () => {
    const events: string[] = [];
    const { logger, records } = recordingLogger();
    const failing = startAll(logger, async (services) => {
      await services.start(part('a', events));
      await services.start(part('b', events, { close: new Error('b is stuck') }));
      await services.start(part('c', events, { start: new Error('no route to host') }));
    });
    await expect(failing).rejects.toThrow(new StartupError('c: cannot start: no route to host'));
    // c never started, so it is not closed; b's failing close does not stop a's.
    expect(events).toEqual(['start a', 'start b', 'start c', 'close b', 'close a']);
    expect(records.filter((record) => record.level >= 50).map(({ service, msg }) => ({ service, msg }))).toEqual([
      { service: 'b', msg: 'b: close failed: b is stuck' },
    ]);
  });

  it('a start-up error already worded for the user passes through unchanged', async () => {
    const worded = new StartupError("config: listen: cannot listen on '127.0.0.1:1': EACCES: ports below 1024 need privileges; use a port >= 1024");
    const failing = startAll(recordingLogger().logger, async (services) => {
      await services.start(part('metrics listener', [], { start: worded }));
    });
    await expect(failing).rejects.toBe(worded);
  });

  it('close goes newest first, reports each failure, and closes each service once', async () => {
    const events: string[] = [];
    const { services } = await startAll(recordingLogger().logger, async (services) => {
      await services.start(part('a', events, { close: new Error('a failed') }));
      const handle = await services.open(
        'b',
        async () => 'handle of b',
        async (value) => void events.push(`close ${value}`),
      );
      expect(handle).toBe('handle of b');
      await services.start(part('c', events, { close: new Error('c failed') }));
    });
    expect((await services.close()).map(({ service, error }) => [service, error.message])).toEqual([
      ['c', 'c failed'],
      ['a', 'a failed'],
    ]);
    expect(events).toEqual(['start a', 'start c', 'close c', 'close handle of b', 'close a']);
    expect(await services.close()).toEqual([]);
  });
});
