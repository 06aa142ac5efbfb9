// `watttime` provider: WattTime API v3 marginal emissions (co2_moer). Login with HTTP Basic at `/login`
// gives a bearer token valid 30 minutes; it is renewed before expiry and once more on a 401.
// `/v3/forecast` returns data[{point_time, value}] in meta.units `lbs_co2_per_mwh`, converted to g/kWh.
import { getJson, HttpStatusError, MalformedResponseError, type HttpOptions } from '../http.ts';
import { poundsPerMwhToGramsPerKwh } from '../units.ts';
import { parseIntensity, parseTimeMs, type IntensityProvider, type ProviderReading } from './provider.ts';

export const WATTTIME_DEFAULT_URL = 'https://api.watttime.org';

/** WattTime tokens last 30 minutes; renew 5 minutes early so a slow refresh never sends an expired one. */
const TOKEN_RENEW_AFTER_MS = 25 * 60_000;

export interface WattTimeCredentials {
  username: string;
  password: string;
}

interface ForecastResponse {
  data?: unknown;
  meta?: { units?: string; generated_at?: unknown; region?: string; signal_type?: string };
}

export class WattTimeProvider implements IntensityProvider {
  readonly name = 'watttime';
  readonly signal = 'marginal' as const;
  #token: { value: string; obtainedAtMs: number } | undefined;

  readonly #baseUrl: string;
  readonly #region: string;
  readonly #credentials: WattTimeCredentials;
  readonly #http: HttpOptions;

  constructor(baseUrl: string, region: string, credentials: WattTimeCredentials, http: HttpOptions = {}) {
    this.#baseUrl = baseUrl;
    this.#region = region;
    this.#credentials = credentials;
    this.#http = http;
  }

  async read(nowMs: number): Promise<ProviderReading> {
    const path = `/v3/forecast?region=${encodeURIComponent(this.#region)}&signal_type=co2_moer`;
    let body: ForecastResponse;
    try {
      body = (await this.#get(path, nowMs)) as ForecastResponse;
    } catch (error) {
      if (!(error instanceof HttpStatusError && error.status === 401)) throw error;
      this.#token = undefined; // revoked or expired early: log in again, once
      body = (await this.#get(path, nowMs)) as ForecastResponse;
    }
    const units = body.meta?.units;
    if (units !== 'lbs_co2_per_mwh') throw new MalformedResponseError(`WattTime forecast: unexpected meta.units ${JSON.stringify(units)}`);
    if (!Array.isArray(body.data) || body.data.length === 0) throw new MalformedResponseError('WattTime forecast: empty data');
    const points = body.data.map((row: Record<string, unknown>, index) => ({
      timeMs: parseTimeMs(row.point_time, `data[${index}].point_time`),
      gramsPerKwh: poundsPerMwhToGramsPerKwh(parseIntensity(row.value, `data[${index}].value`)),
    }));
    const observedAtMs = body.meta?.generated_at === undefined ? points[0]!.timeMs : parseTimeMs(body.meta.generated_at, 'meta.generated_at');
    return { points, observedAtMs };
  }

  async #get(path: string, nowMs: number): Promise<unknown> {
    const token = await this.#bearer(nowMs);
    return getJson(`${this.#base()}${path}`, { authorization: `Bearer ${token}` }, this.#http);
  }

  async #bearer(nowMs: number): Promise<string> {
    if (this.#token && nowMs - this.#token.obtainedAtMs < TOKEN_RENEW_AFTER_MS) return this.#token.value;
    const basic = Buffer.from(`${this.#credentials.username}:${this.#credentials.password}`).toString('base64');
    const body = (await getJson(`${this.#base()}/login`, { authorization: `Basic ${basic}` }, this.#http)) as { token?: unknown };
    if (typeof body.token !== 'string' || body.token === '') throw new MalformedResponseError('WattTime login: no token in response');
    this.#token = { value: body.token, obtainedAtMs: nowMs };
    return body.token;
  }

  #base(): string {
    return this.#baseUrl.replace(/\/$/, '');
  }
}
