// pino JSON logs for machines; `--log-format pretty` for a person at a terminal.
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export async function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Promise<Logger> {
  const options = { name: 'footprint', level: config.logLevel };
  if (config.logFormat !== 'pretty') return pino(options, pino.destination({ dest: 2, sync: true }));
  // pino-pretty (and its colour and date libraries) is loaded only for a person at a terminal.
  // Pretty output goes through a synchronous stream so the last lines before exit are never lost.
  const { default: pinoPretty } = await import('pino-pretty');
  return pino(options, pinoPretty({ colorize: process.stderr.isTTY, destination: 2, sync: true }));
}
