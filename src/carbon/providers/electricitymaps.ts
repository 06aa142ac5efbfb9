// `electricitymaps` provider: Electricity Maps API v3, `carbon-intensity/latest` plus `forecast` where the
// plan allows it (a 401/403/404 on forecast just means the plan lacks it). Auth header: `auth-token`.
import { getJson, HttpStatusError, type HttpOptions } from '../http.ts';
import type { IntensityPoint } from '../intensity-timeline.ts';
import { parseIntensity, parseTimeMs, type IntensityProvider, type ProviderReading } from './provider.ts';
import type { Logger } from 'pino';

export const ELECTRICITYMAPS_DEFAULT_URL = 'https://api.electricitymap.org';

interface LatestResponse {
  zone?: string;
  carbonIntensity?: unknown;
  datetime?: unknown;
  updatedAt?: unknown;
  emissionFactorType?: string;
  isEstimated?: boolean;
}

export class ElectricityMapsProvider implements IntensityProvider {
  readonly name = 'electricitymaps';
  readonly signal = 'average' as const;
  #forecastAvailable = true;
  #loggedFactorType: string | undefined;

  readonly #baseUrl: string;
  readonly #zone: string;
  readonly #token: string;
  readonly #logger: Logger;
  readonly #http: HttpOptions;

  constructor(baseUrl: string, zone: string, token: string, logger: Logger, http: HttpOptions = {}) {
    this.#baseUrl = baseUrl;
    this.#zone = zone;
    this.#token = token;
    this.#logger = logger;
    this.#http = http;
  }

  async read(): Promise<ProviderReading> {
    const query = `zone=${encodeURIComponent(this.#zone)}`;
    const latest = (await this.#get(`/v3/carbon-intensity/latest?${query}`)) as LatestResponse;
    const timeMs = parseTimeMs(latest.datetime, 'datetime');
    const points: IntensityPoint[] = [{ timeMs, gramsPerKwh: parseIntensity(latest.carbonIntensity, 'carbonIntensity') }];
    this.#noteFactorType(latest);
    if (this.#forecastAvailable) points.push(...(await this.#forecastAfter(query, timeMs)));
    const observedAtMs = latest.updatedAt === undefined ? timeMs : parseTimeMs(latest.updatedAt, 'updatedAt');
    return { points, observedAtMs: Math.max(observedAtMs, timeMs) };
  }

  async #forecastAfter(query: string, latestMs: number): Promise<IntensityPoint[]> {
    try {
      const body = (await this.#get(`/v3/carbon-intensity/forecast?${query}`)) as { forecast?: unknown };
      if (!Array.isArray(body.forecast)) return [];
      return body.forecast
        .map((row: Record<string, unknown>, index) => ({
          timeMs: parseTimeMs(row.datetime, `forecast[${index}].datetime`),
          gramsPerKwh: parseIntensity(row.carbonIntensity, `forecast[${index}].carbonIntensity`),
        }))
        .filter((point) => point.timeMs > latestMs);
    } catch (error) {
      if (error instanceof HttpStatusError && [401, 403, 404].includes(error.status)) {
        this.#forecastAvailable = false;
        this.#logger.info({ status: error.status }, 'carbon: Electricity Maps forecast not available on this plan; using latest only');
        return [];
      }
      // The latest value is already in hand; a failing forecast only costs the points between refreshes.
      this.#logger.warn({ error: (error as Error).message }, 'carbon: Electricity Maps forecast failed; using latest only this time');
      return [];
    }
  }

  #get(path: string): Promise<unknown> {
    return getJson(`${this.#baseUrl.replace(/\/$/, '')}${path}`, { 'auth-token': this.#token }, this.#http);
  }

  /** Lifecycle vs direct changes what the grams mean; say which once, and again if it changes. */
  #noteFactorType(latest: LatestResponse): void {
    const factorType = latest.emissionFactorType ?? 'unstated';
    if (factorType === this.#loggedFactorType) return;
    this.#loggedFactorType = factorType;
    this.#logger.info(
      { zone: latest.zone ?? this.#zone, emissionFactorType: factorType, isEstimated: latest.isEstimated },
      'carbon: Electricity Maps emission factor type',
    );
  }
}
