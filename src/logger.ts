// pino JSON logs for machines; `--log-format pretty` for a person at a terminal.
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from './config.ts';

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  const options = { name: 'footprint', level: config.logLevel };
  // Pretty output goes through a synchronous stream so the last lines before exit are never lost.
  return config.logFormat === 'pretty'
    ? pino(options, pinoPretty({ colorize: process.stderr.isTTY, destination: 2, sync: true }))
    : pino(options, pino.destination({ dest: 2, sync: true }));
}
