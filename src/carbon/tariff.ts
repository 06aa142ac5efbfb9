// Electricity price per kWh at an instant: flat, or a time-of-use schedule in a local time zone.
// Local wall time comes from Intl, so DST changes and midnight wrap follow the IANA zone rules.

export interface TouRate {
  /** Local HH:MM from which the rate holds, until the next entry's start (wrapping past midnight). */
  from: string;
  pricePerKwh: number;
}

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;

export interface Tariff {
  priceAt(timeMs: number): number;
  /** Instants in (startMs, endMs) where the price changes. */
  changesBetween(startMs: number, endMs: number): number[];
}

export function flatTariff(pricePerKwh: number): Tariff {
  return { priceAt: () => pricePerKwh, changesBetween: () => [] };
}

export class TimeOfUseTariff implements Tariff {
  /** Rates sorted by start minute of the local day. */
  readonly #rates: { fromMinute: number; pricePerKwh: number }[];
  readonly #format: Intl.DateTimeFormat;

  constructor(rates: TouRate[], timeZone: string) {
    if (rates.length === 0) throw new Error('tariff: at least one rate is needed');
    this.#rates = rates
      .map(({ from, pricePerKwh }) => {
        const [hours, minutes] = from.split(':').map(Number);
        return { fromMinute: hours! * 60 + minutes!, pricePerKwh };
      })
      .sort((a, b) => a.fromMinute - b.fromMinute);
    // Throws RangeError for an unknown zone, which the factory reports as a config error.
    this.#format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  priceAt(timeMs: number): number {
    return this.#rateForMinute(this.#localMinuteOfDay(timeMs)).pricePerKwh;
  }

  changesBetween(startMs: number, endMs: number): number[] {
    // Local minute-of-day only changes at whole UTC minutes (all zone offsets are whole minutes), so walking
    // minute boundaries and comparing prices is exact; offsets (DST) are handled by Intl on each probe.
    // The walk jumps to the next local rate start assuming a constant offset, then bisects if the offset moved.
    const changes: number[] = [];
    let cursorMs = startMs;
    let price = this.priceAt(startMs);
    for (;;) {
      const nextMs = this.#nextChange(cursorMs, price, endMs);
      if (nextMs === undefined) return changes;
      changes.push(nextMs);
      cursorMs = nextMs;
      price = this.priceAt(nextMs);
    }
  }

  /** First instant in (fromMs, endMs) where the price differs from `price`. */
  #nextChange(fromMs: number, price: number, endMs: number): number | undefined {
    let probeMs = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS;
    while (probeMs < endMs) {
      const minute = this.#localMinuteOfDay(probeMs);
      const minutesToNextStart = this.#minutesToNextRateStart(Math.floor(minute));
      const candidateMs = Math.max(probeMs + minutesToNextStart * MINUTE_MS, probeMs + MINUTE_MS);
      const offsetChangeMs = this.#offsetChangeBetween(probeMs, Math.min(candidateMs, endMs));
      const nextMs = offsetChangeMs ?? candidateMs;
      if (nextMs >= endMs) return undefined;
      if (nextMs > fromMs && this.priceAt(nextMs) !== price) return nextMs;
      probeMs = nextMs;
    }
    return undefined;
  }

  #minutesToNextRateStart(minute: number): number {
    const next = this.#rates.find((rate) => rate.fromMinute > minute);
    return next ? next.fromMinute - minute : DAY_MINUTES - minute + this.#rates[0]!.fromMinute;
  }

  /** The whole UTC minute in (startMs, endMs] where the UTC offset changes, if it does. */
  #offsetChangeBetween(startMs: number, endMs: number): number | undefined {
    const startOffset = this.#offsetMinutes(startMs);
    if (this.#offsetMinutes(endMs) === startOffset) return undefined;
    let low = startMs; // offset equals startOffset
    let high = endMs; // offset differs
    while (high - low > MINUTE_MS) {
      const mid = low + Math.floor((high - low) / MINUTE_MS / 2) * MINUTE_MS;
      if (this.#offsetMinutes(mid) === startOffset) low = mid;
      else high = mid;
    }
    return high;
  }

  #rateForMinute(minute: number) {
    let rate = this.#rates[this.#rates.length - 1]!; // before the first start of the day: yesterday's last rate
    for (const candidate of this.#rates) if (candidate.fromMinute <= minute) rate = candidate;
    return rate;
  }

  /** Local minute of the day with fraction, e.g. 61.5 at 01:01:30. */
  #localMinuteOfDay(timeMs: number): number {
    const parts = this.#localParts(timeMs);
    return parts.hour * 60 + parts.minute + (parts.second + (timeMs % 1000) / 1000) / 60;
  }

  #offsetMinutes(timeMs: number): number {
    const wholeSecondMs = Math.floor(timeMs / 1000) * 1000;
    const parts = this.#localParts(wholeSecondMs);
    const localAsUtcMs = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
    return Math.round((localAsUtcMs - wholeSecondMs) / MINUTE_MS);
  }

  #localParts(timeMs: number) {
    const values: Record<string, number> = {};
    for (const part of this.#format.formatToParts(timeMs)) {
      if (part.type !== 'literal') values[part.type] = Number(part.value);
    }
    return values as { year: number; month: number; day: number; hour: number; minute: number; second: number };
  }
}
