import { afterEach, describe, expect, it } from 'vitest';
import { createCarbonAccountant } from '../../src/carbon/create-accountant.ts';
import { carbonConfig, captureLogger, share } from '../support/carbon-helpers.ts';
import { electricityMapsLatest, json, startFakeServer, type FakeServer } from '../support/carbon-fake-servers.ts';

const T0 = Date.UTC(2026, 4, 4, 12, 0);
const MINUTE = 60_000;
const TOKEN = 'em-secret-token-123';
let server: FakeServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A fake Electricity Maps whose latest value changes every simulated minute: 100, 200, 300, ... g/kWh. */
async function minuteByMinuteServer(clock: { nowMs: number }) {
  return startFakeServer({
    '/v3/carbon-intensity/latest': (request, response, url) => {
      if (request.headers['auth-token'] !== TOKEN) return json(response, 401, { message: 'unauthorized' });
      const minute = Math.floor((clock.nowMs - T0) / MINUTE);
      json(response, 200, electricityMapsLatest(url.searchParams.get('zone')!, 100 * (minute + 1), T0 + minute * MINUTE));
    },
    '/v3/carbon-intensity/forecast': (_request, response) => json(response, 403, { message: 'not in plan' }),
  });
}

function accountantFor(url: string, clock: { nowMs: number }, extra: Record<string, unknown> = {}) {
  const log = captureLogger();
  const accountant = createCarbonAccountant(
    carbonConfig({ zone: 'DE', intensityProvider: 'electricitymaps', intensityUrl: url, intensityRefresh: '1m', intensityMaxAge: '5m', ...extra }),
    log.logger,
    {
      now: () => clock.nowMs,
      env: { FOOTPRINT_ELECTRICITYMAPS_TOKEN: TOKEN },
      http: { timeoutMs: 300, attempts: 3, baseDelayMs: 1, sleep: async () => {}, now: () => clock.nowMs },
    },
  );
  return { accountant, log };
}

describe('electricitymaps provider', () => {
  it('sends the documented request and reports the live value', async () => {
    const clock = { nowMs: T0 + 10_000 };
    server = await minuteByMinuteServer(clock);
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(server.requests[0]).toMatchObject({ path: '/v3/carbon-intensity/latest?zone=DE' });
    expect(server.requests[0]!.headers['auth-token']).toBe(TOKEN);
    expect(accountant.intensity(clock.nowMs)).toEqual({
      zone: 'DE',
      source: 'electricitymaps',
      signal: 'average',
      gramsPerKwh: 100,
      ageSeconds: 0,
      state: 'live',
    });
    expect(log.text()).not.toContain(TOKEN);
    expect(log.text()).toContain('lifecycle');
  });

  it('grams per interval follow an intensity that changes every minute', async () => {
    const clock = { nowMs: T0 };
    server = await minuteByMinuteServer(clock);
    const { accountant } = accountantFor(server.url, clock);
    const gramsPerMinute: number[] = [];
    for (let minute = 0; minute < 5; minute++) {
      clock.nowMs = T0 + minute * MINUTE + 1000; // the refresh lands 1 s into each minute
      await accountant.refresh();
      expect(accountant.intensity(clock.nowMs).gramsPerKwh).toBe(100 * (minute + 1));
      // the previous minute closes after the refresh: 1 kWh over it
      if (minute > 0) {
        const start = T0 + (minute - 1) * MINUTE;
        gramsPerMinute.push(accountant.account(share({ startMs: start, endMs: start + MINUTE, energyJoules: 3_600_000 })).operationalGrams);
      }
    }
    expect(gramsPerMinute).toEqual([100, 200, 300, 400]);
    // an interval straddling a change is split in time: 30 s at 200 and 30 s at 300
    const straddle = accountant.account(share({ startMs: T0 + 1.5 * MINUTE, endMs: T0 + 2.5 * MINUTE, energyJoules: 3_600_000 }));
    expect(straddle.operationalGrams).toBeCloseTo(250, 10);
  });

  it('401: falls to the static value and says so, without logging the token', async () => {
    const clock = { nowMs: T0 };
    server = await startFakeServer({ '/v3/carbon-intensity/latest': (_q, response) => json(response, 401, { message: 'bad token' }) });
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ source: 'static', state: 'static', gramsPerKwh: 380.95 });
    expect(server.requests).toHaveLength(1); // 401 is not retried
    expect(log.text()).toContain('HTTP 401');
    expect(log.text()).not.toContain(TOKEN);
  });

  it('500 then recovery: retries with backoff inside one refresh', async () => {
    const clock = { nowMs: T0 + 1000 };
    let calls = 0;
    server = await startFakeServer({
      '/v3/carbon-intensity/latest': (_q, response) => {
        calls++;
        if (calls < 3) return json(response, 500, { message: 'oops' });
        json(response, 200, electricityMapsLatest('DE', 222, T0));
      },
    });
    const { accountant } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(calls).toBe(3);
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ gramsPerKwh: 222, state: 'live' });
  });

  it('last good value while failing, then static once older than intensityMaxAge; a log line per change', async () => {
    const clock = { nowMs: T0 + 1000 };
    let healthy = true;
    server = await startFakeServer({
      '/v3/carbon-intensity/latest': (_q, response) =>
        healthy ? json(response, 200, electricityMapsLatest('DE', 150, Math.floor(clock.nowMs / MINUTE) * MINUTE)) : json(response, 503, {}),
    });
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    healthy = false;
    clock.nowMs = T0 + 2 * MINUTE;
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ gramsPerKwh: 150, state: 'last_good', source: 'electricitymaps', ageSeconds: 119 });
    clock.nowMs = T0 + 6 * MINUTE;
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ gramsPerKwh: 380.95, state: 'static', source: 'static', ageSeconds: 0 });
    // the minute in which the value expired (fetched at T0+1s, max age 5 min) is split at the expiry instant
    const grams = accountant.account(share({ startMs: T0 + 1000 + 4 * MINUTE, endMs: T0 + 1000 + 6 * MINUTE, energyJoules: 3_600_000 }));
    expect(grams.operationalGrams).toBeCloseTo(0.5 * 150 + 0.5 * 380.95, 10);
    const states = log
      .lines()
      .filter((line) => 'state' in line)
      .map((line) => line.state);
    expect(states).toEqual(['live', 'last_good', 'static']);
    healthy = true;
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs).state).toBe('live');
  });

  it('429 with Retry-After: waits the given time, or skips refreshes until then when it is long', async () => {
    const clock = { nowMs: T0 + 1000 };
    const slept: number[] = [];
    let calls = 0;
    server = await startFakeServer({
      '/v3/carbon-intensity/latest': (_q, response) => {
        calls++;
        if (calls === 1) return json(response, 429, {}, { 'retry-after': '2' });
        if (calls === 2) return json(response, 200, electricityMapsLatest('DE', 111, T0));
        json(response, 429, {}, { 'retry-after': '600' });
      },
    });
    const log = captureLogger();
    const accountant = createCarbonAccountant(
      carbonConfig({ zone: 'DE', intensityProvider: 'electricitymaps', intensityUrl: server.url, intensityMaxAge: '1h' }),
      log.logger,
      {
        now: () => clock.nowMs,
        env: { FOOTPRINT_ELECTRICITYMAPS_TOKEN: TOKEN },
        http: { attempts: 3, sleep: async (ms) => void slept.push(ms), now: () => clock.nowMs },
      },
    );
    await accountant.refresh();
    expect(slept).toEqual([2000]);
    expect(accountant.intensity(clock.nowMs).gramsPerKwh).toBe(111);
    clock.nowMs += MINUTE;
    await accountant.refresh(); // 429, Retry-After 600 s: not waited here
    expect(calls).toBe(3);
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ gramsPerKwh: 111, state: 'last_good' });
    clock.nowMs += 5 * MINUTE;
    await accountant.refresh(); // still inside the 600 s: no request
    expect(calls).toBe(3);
    clock.nowMs += 5 * MINUTE;
    await accountant.refresh();
    expect(calls).toBe(4);
  });

  it('timeouts and malformed JSON are failures, not values', async () => {
    const clock = { nowMs: T0 + 1000 };
    let mode: 'hang' | 'garbage' | 'negative' = 'hang';
    server = await startFakeServer({
      '/v3/carbon-intensity/latest': (_q, response) => {
        if (mode === 'hang') return; // never answers
        if (mode === 'garbage') {
          response.writeHead(200, { 'content-type': 'application/json' });
          return void response.end('{"zone":"DE","carbonInt');
        }
        json(response, 200, { ...electricityMapsLatest('DE', 1, T0), carbonIntensity: -5 });
      },
    });
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs).state).toBe('static');
    mode = 'garbage';
    await accountant.refresh();
    expect(log.text()).toContain('malformed JSON');
    mode = 'negative';
    await accountant.refresh();
    expect(log.text()).toContain("'carbonIntensity'");
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ state: 'static', gramsPerKwh: 380.95 });
  });

  it('stale data (updatedAt older than intensityMaxAge) is not used as live', async () => {
    const clock = { nowMs: T0 + 3 * 3_600_000 };
    server = await startFakeServer({
      '/v3/carbon-intensity/latest': (_q, response) => json(response, 200, electricityMapsLatest('DE', 999, T0)),
    });
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ state: 'static', gramsPerKwh: 380.95 });
    expect(log.text()).toContain('stale data');
  });

  it('uses the forecast where the plan allows it', async () => {
    const clock = { nowMs: T0 + 1000 };
    server = await startFakeServer({
      '/v3/carbon-intensity/latest': (_q, response) => json(response, 200, electricityMapsLatest('DE', 100, T0)),
      '/v3/carbon-intensity/forecast': (_q, response) =>
        json(response, 200, {
          zone: 'DE',
          forecast: [
            { carbonIntensity: 100, datetime: new Date(T0).toISOString() },
            { carbonIntensity: 300, datetime: new Date(T0 + 2 * MINUTE).toISOString() },
          ],
          updatedAt: new Date(T0).toISOString(),
        }),
    });
    const { accountant } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(server.requests.map((r) => r.path)).toContain('/v3/carbon-intensity/forecast?zone=DE');
    const grams = accountant.account(share({ startMs: T0 + MINUTE, endMs: T0 + 3 * MINUTE, energyJoules: 3_600_000 }));
    expect(grams.operationalGrams).toBeCloseTo(200, 10);
  });

  it('needs a token and a zone', () => {
    const config = carbonConfig({ zone: 'DE', intensityProvider: 'electricitymaps' });
    expect(() => createCarbonAccountant(config, captureLogger().logger, { env: {} })).toThrow(/FOOTPRINT_ELECTRICITYMAPS_TOKEN/);
    const noZone = carbonConfig({ intensityProvider: 'electricitymaps' });
    expect(() => createCarbonAccountant(noZone, captureLogger().logger, { env: { FOOTPRINT_ELECTRICITYMAPS_TOKEN: 'x' } })).toThrow(/^config: zone:/);
  });
});
