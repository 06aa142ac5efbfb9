// Shared helpers for the carbon tests: config, a log capture, and shares.
import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';
import { parseConfig, type Config } from '../../src/config.ts';
import type { EnergyShare } from '../../src/carbon/accountant.ts';

export function carbonConfig(input: Record<string, unknown> = {}): Config {
  return parseConfig(input);
}

export interface CapturedLogger {
  logger: Logger;
  lines: () => Record<string, unknown>[];
  text: () => string;
}

/** A pino logger that keeps its JSON lines in memory, so tests can assert what was said (and not said). */
export function captureLogger(): CapturedLogger {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, text };
}

export function share(fields: Partial<EnergyShare> = {}): EnergyShare {
  return {
    deviceId: 'gpu-0',
    deviceType: 'gpu',
    deviceName: 'NVIDIA H100 80GB HBM3',
    startMs: Date.UTC(2026, 0, 1),
    endMs: Date.UTC(2026, 0, 1) + 2000,
    energyJoules: 0,
    deviceSeconds: 0,
    ...fields,
  };
}
