// Parses the report's window flags. Every error names the flag so a user knows which one to fix.
import { parseDurationMs } from '../config.ts';

export class ReportArgumentError extends Error {}

const ACCEPTED_TIME = 'RFC 3339 (2025-01-31T00:00:00Z), unix seconds (1738281600), now, or now-30d / now-12h';

/**
 * Resolves `--from` / `--to` values to whole unix seconds (PromQL range durations must be whole
 * units, and window lengths are derived from these); `nowSeconds` anchors relative values.
 */
export function parseTimeArg(flag: string, text: string, nowSeconds: number): number {
  return Math.floor(parseTime(flag, text, nowSeconds));
}

function parseTime(flag: string, text: string, nowSeconds: number): number {
  const trimmed = text.trim();
  const relative = /^now(?:\s*-\s*(.+))?$/.exec(trimmed);
  if (relative) {
    if (relative[1] === undefined) return nowSeconds;
    const agoMs = parseDurationMs(relative[1]);
    if (agoMs !== undefined) return nowSeconds - agoMs / 1000;
  } else if (/^\d+(\.\d+)?$/.test(trimmed)) {
    return Number(trimmed);
  } else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/i.test(trimmed)) {
    // A bare date is taken as UTC midnight, which is what Date.parse does for date-only forms.
    const parsedMs = Date.parse(trimmed);
    if (Number.isFinite(parsedMs)) return parsedMs / 1000;
  }
  throw new ReportArgumentError(`${flag}: cannot parse "${text}"; use ${ACCEPTED_TIME}`);
}

/** Parses `--step` style durations (`5m`, `1h`, `1d`) to whole seconds. */
export function parseDurationArg(flag: string, text: string): number {
  const durationMs = parseDurationMs(text);
  if (durationMs === undefined || durationMs < 1000 || durationMs % 1000 !== 0) {
    throw new ReportArgumentError(`${flag}: expected a whole number of seconds of at least 1s like 5m, 1h or 1d, got "${text}"`);
  }
  return durationMs / 1000;
}

export interface ReportWindow {
  fromSeconds: number;
  toSeconds: number;
}

export function resolveWindow(fromText: string, toText: string, nowSeconds: number): ReportWindow {
  const fromSeconds = parseTimeArg('--from', fromText, nowSeconds);
  const toSeconds = parseTimeArg('--to', toText, nowSeconds);
  if (fromSeconds >= toSeconds) {
    throw new ReportArgumentError(`--from (${new Date(fromSeconds * 1000).toISOString()}) must be before --to (${new Date(toSeconds * 1000).toISOString()})`);
  }
  return { fromSeconds, toSeconds };
}
