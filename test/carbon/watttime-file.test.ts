import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCarbonAccountant } from '../../src/carbon/create-accountant.ts';
import { carbonConfig, captureLogger, share } from '../support/carbon-helpers.ts';
import { json, startFakeServer, wattTimeForecast, type FakeServer } from '../support/carbon-fake-servers.ts';

const T0 = Date.UTC(2026, 4, 4, 12, 0);
const MINUTE = 60_000;
let server: FakeServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('watttime provider', () => {
  const basic = `Basic ${Buffer.from('ada:s3cret').toString('base64')}`;

  async function wattTimeServer(clock: { nowMs: number }, tokens: string[]) {
    let issued = 0;
    return startFakeServer({
      '/login': (request, response) => {
        if (request.headers.authorization !== basic) return json(response, 401, { error: 'bad credentials' });
        json(response, 200, { token: tokens[issued++] ?? 'late-token' });
      },
      '/v3/forecast': (request, response, url) => {
        const valid = tokens.slice(0, issued).at(-1);
        if (request.headers.authorization !== `Bearer ${valid}`) return json(response, 401, { error: 'token expired' });
        const start = Math.floor(clock.nowMs / 300_000) * 300_000;
        json(response, 200, wattTimeForecast(url.searchParams.get('region')!, start, [1000, 500], start));
      },
    });
  }

  function accountantFor(url: string, clock: { nowMs: number }) {
    const log = captureLogger();
    const accountant = createCarbonAccountant(
      carbonConfig({ zone: 'CAISO_NORTH', cloudRegion: 'us-west-1', intensityProvider: 'watttime', intensityUrl: url }),
      log.logger,
      {
        now: () => clock.nowMs,
        env: { FOOTPRINT_WATTTIME_USERNAME: 'ada', FOOTPRINT_WATTTIME_PASSWORD: 's3cret' },
        http: { attempts: 2, sleep: async () => {}, now: () => clock.nowMs },
      },
    );
    return { accountant, log };
  }

  it('logs in with basic auth, asks for co2_moer and converts lbs/MWh to g/kWh, labelled marginal', async () => {
    const clock = { nowMs: T0 + 1000 };
    server = await wattTimeServer(clock, ['tok-1']);
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/v3/forecast?region=CAISO_NORTH&signal_type=co2_moer']);
    expect(accountant.intensity(clock.nowMs)).toEqual({
      zone: 'CAISO_NORTH',
      source: 'watttime',
      signal: 'marginal',
      gramsPerKwh: 453.59237,
      ageSeconds: 0,
      state: 'live',
    });
    // 5-minute points: 1000 then 500 lbs/MWh; 10 minutes at 1 kWh
    const grams = accountant.account(share({ startMs: T0, endMs: T0 + 10 * MINUTE, energyJoules: 3_600_000 }));
    expect(grams.operationalGrams).toBeCloseTo(0.5 * 453.59237 + 0.5 * 226.796185, 10);
    expect(log.text()).not.toContain('s3cret');
    expect(log.text()).not.toContain('tok-1');
  });

  it('renews the 30-minute token before it expires, and again on a 401', async () => {
    const clock = { nowMs: T0 + 1000 };
    server = await wattTimeServer(clock, ['tok-1', 'tok-2', 'tok-3']);
    const { accountant } = accountantFor(server.url, clock);
    await accountant.refresh();
    clock.nowMs += 10 * MINUTE;
    await accountant.refresh(); // token still young: no login
    clock.nowMs += 20 * MINUTE;
    await accountant.refresh(); // 30 min after login: renewed first
    const logins = server.requests.filter((r) => r.path === '/login').length;
    expect(logins).toBe(2);
    expect(server.requests.at(-1)!.headers.authorization).toBe('Bearer tok-2');
    expect(accountant.intensity(clock.nowMs).state).toBe('live');
  });

  it('falls back to the static average of the cloud region zone, labelled average', async () => {
    const clock = { nowMs: T0 };
    server = await startFakeServer({ '/login': (_q, response) => json(response, 500, {}) });
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ source: 'static', signal: 'average', gramsPerKwh: 229, state: 'static' });
    expect(log.text()).toContain('not marginal');
  });

  it('rejects units other than lbs_co2_per_mwh', async () => {
    const clock = { nowMs: T0 };
    server = await startFakeServer({
      '/login': (_q, response) => json(response, 200, { token: 't' }),
      '/v3/forecast': (_q, response) => {
        const body = wattTimeForecast('CAISO_NORTH', T0, [1]);
        json(response, 200, { ...body, meta: { ...body.meta, units: 'kg_co2_per_mwh' } });
      },
    });
    const { accountant, log } = accountantFor(server.url, clock);
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs).state).toBe('static');
    expect(log.text()).toContain('unexpected meta.units');
  });
});

describe('file provider', () => {
  const dir = mkdtempSync(join(tmpdir(), 'footprint-carbon-'));

  it('reads a CSV series and uses the value valid for each part of an interval', async () => {
    const path = join(dir, 'series.csv');
    writeFileSync(path, `timestamp,gCO2e/kWh\n${new Date(T0).toISOString()},100\n${(T0 + 30 * MINUTE) / 1000},400\n`);
    const clock = { nowMs: T0 + 40 * MINUTE };
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE', intensityProvider: 'file', intensityUrl: path }), captureLogger().logger, {
      now: () => clock.nowMs,
    });
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ source: 'file', gramsPerKwh: 400, state: 'live' });
    const grams = accountant.account(share({ startMs: T0 + 20 * MINUTE, endMs: T0 + 40 * MINUTE, energyJoules: 3_600_000 }));
    expect(grams.operationalGrams).toBeCloseTo(250, 10);
  });

  it('reads a JSON series; an unreadable file keeps the last good value', async () => {
    const path = join(dir, 'series.json');
    writeFileSync(path, JSON.stringify([{ timestamp: new Date(T0).toISOString(), gramsPerKwh: 55.5 }]));
    const clock = { nowMs: T0 + MINUTE };
    const accountant = createCarbonAccountant(carbonConfig({ zone: 'DE', intensityProvider: 'file', intensityUrl: path }), captureLogger().logger, {
      now: () => clock.nowMs,
    });
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs).gramsPerKwh).toBe(55.5);
    writeFileSync(path, '[{"timestamp": "not a time", "gramsPerKwh": 1}]');
    clock.nowMs += MINUTE;
    await accountant.refresh();
    expect(accountant.intensity(clock.nowMs)).toMatchObject({ gramsPerKwh: 55.5, state: 'last_good' });
  });
});
