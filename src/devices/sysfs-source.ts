// What the sysfs counter sources (RAPL, hwmon) share: their options, and reading every known entry
// once per tick, each into a reading or a failure.
import type { Logger } from 'pino';
import type { DeviceFailure, Reading, SampleResult } from './source.ts';
import { readTextFile, type FileReader } from './sysfs-read.ts';

interface SysfsSourceOptions {
  hostRoot: string;
  /** Replaces file reads under the host root (tests inject errors root never gets from chmod). */
  reader?: FileReader;
  logger?: Logger;
}

/** A source reading `Entry`s (a zone, a sensor) found by its discover(). */
export abstract class SysfsSource<Entry> {
  protected readonly hostRoot: string;
  protected readonly reader: FileReader;
  protected readonly logger: Logger | undefined;
  /** What discover() found, kept across rediscoveries (keepKnown). */
  protected entries: Entry[] = [];

  constructor({ hostRoot, reader = readTextFile, logger }: SysfsSourceOptions) {
    this.hostRoot = hostRoot;
    this.reader = reader;
    this.logger = logger;
  }

  async read(nowMs: number): Promise<SampleResult> {
    const results = await Promise.all(this.entries.map((entry) => this.readEntry(entry, nowMs)));
    const readings: Reading[] = [];
    const failures: DeviceFailure[] = [];
    for (const result of results) {
      if ('kind' in result) readings.push(result);
      else failures.push(result);
    }
    return { readings, failures };
  }

  protected abstract readEntry(entry: Entry, nowMs: number): Promise<Reading | DeviceFailure>;
}
