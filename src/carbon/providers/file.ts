// `file` provider: a time series for audits and on-prem contracts, re-read on every refresh.
// CSV: `timestamp,gCO2e/kWh` rows (ISO 8601 or Unix seconds; a header row is skipped).
// JSON: [{"timestamp": ..., "gramsPerKwh": ...}] (also accepts "datetime"/"carbonIntensity").
import { readFile } from 'node:fs/promises';
import type { IntensityPoint } from '../intensity-timeline.ts';
import { parseIntensity, type IntensityProvider, type ProviderReading } from './provider.ts';

export class FileProvider implements IntensityProvider {
  readonly name = 'file';
  readonly signal = 'average' as const;

  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  async read(nowMs: number): Promise<ProviderReading> {
    const text = await readFile(this.#path, 'utf8');
    const points = (text.trimStart().startsWith('[') ? parseJsonSeries(text) : parseCsvSeries(text)).sort((a, b) => a.timeMs - b.timeMs);
    if (points.length === 0) throw new Error(`${this.#path}: no intensity rows`);
    // The file is the authority for its own range; freshness is the read itself.
    return { points, observedAtMs: nowMs };
  }
}

function parseTimestamp(value: unknown, where: string): number {
  if (typeof value === 'number' || (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value))) {
    return Number(value) * 1000;
  }
  const timeMs = typeof value === 'string' ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(timeMs)) throw new Error(`${where}: expected an ISO 8601 time or Unix seconds, got ${JSON.stringify(value)}`);
  return timeMs;
}

function parseCsvSeries(text: string): IntensityPoint[] {
  const points: IntensityPoint[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const [time, value] = trimmed.split(',').map((cell) => cell.trim());
    if (index === 0 && Number.isNaN(Number(value))) return; // header
    const where = `line ${index + 1}`;
    points.push({ timeMs: parseTimestamp(time, where), gramsPerKwh: parseIntensity(Number(value), `${where} value`) });
  });
  return points;
}

function parseJsonSeries(text: string): IntensityPoint[] {
  const rows = JSON.parse(text) as unknown;
  if (!Array.isArray(rows)) throw new Error('expected a JSON array of {timestamp, gramsPerKwh}');
  return rows.map((row: Record<string, unknown>, index) => ({
    timeMs: parseTimestamp(row.timestamp ?? row.datetime, `row ${index}`),
    gramsPerKwh: parseIntensity(row.gramsPerKwh ?? row.carbonIntensity, `row ${index} gramsPerKwh`),
  }));
}
