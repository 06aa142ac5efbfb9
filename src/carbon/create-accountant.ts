// Builds the carbon stage from config: static or live intensity, PUE, embodied factors and tariff.
import type { Logger } from 'pino';
import type { HardwareInventory } from '../devices/inventory.ts';
import { ConfigError, type Config } from '../config.ts';
import type { CarbonAccountant, EnergyShare, IntensityStatus, ShareFootprint } from './accountant.ts';
import { EmbodiedModel } from './embodied.ts';
import { buildForecast, type SourcedForecast } from './forecast.ts';
import { IntensityTimeline } from './intensity-timeline.ts';
import { LiveIntensity, stateOf, type LiveIntensityOptions } from './live-intensity.ts';
import type { HttpOptions } from './http.ts';
import { createProvider } from './providers/create-provider.ts';
import { resolveStaticIntensity } from './static-intensity.ts';
import { flatTariff, TimeOfUseTariff, type Tariff } from './tariff.ts';
import { joulesToKwh, SECONDS_PER_HOUR } from './units.ts';

export interface CarbonAccountantOptions extends LiveIntensityOptions {
  /** Environment for provider credentials (FOOTPRINT_ELECTRICITYMAPS_TOKEN, ...); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Transport settings for live providers (fetch, timeouts, retry pacing); tests shorten them. */
  http?: HttpOptions;
  /** The machine's hardware inventory, for embodied figures; without it the documented assumptions apply. */
  inventory?: HardwareInventory;
}

/** The accountant plus a way to poll the provider now (tests, and `doctor`). */
export interface FootprintCarbonAccountant extends CarbonAccountant {
  refresh(): Promise<void>;
  /** The intensity ahead (fresh provider points, else the static value with the reason), for plans. */
  forecast(nowMs: number): SourcedForecast;
}

export function createCarbonAccountant(config: Config, logger: Logger, options: CarbonAccountantOptions = {}): FootprintCarbonAccountant {
  const log = logger.child({ component: 'carbon' });
  const staticIntensity = resolveStaticIntensity(config, log);
  const fallback = { gramsPerKwh: staticIntensity.gramsPerKwh, source: 'static', signal: 'average' as const };
  const provider = createProvider(config, staticIntensity.zone, { env: options.env ?? process.env, logger: log, http: options.http });
  const timeline = new IntensityTimeline(fallback, { source: provider?.name ?? 'static', signal: provider?.signal ?? 'average' }, config.intensityMaxAge);
  const live = provider ? new LiveIntensity(provider, timeline, config, log, options) : undefined;
  const tariff = createTariff(config);
  const embodied = new EmbodiedModel(config.embodied, options.inventory);
  const now = options.now ?? Date.now;
  const pue = config.pue;

  log.info(
    {
      zone: staticIntensity.zone,
      staticGramsPerKwh: staticIntensity.gramsPerKwh,
      staticSource: staticIntensity.source,
      staticYear: staticIntensity.year,
      provider: config.intensityProvider,
      pue,
      currency: config.currency,
    },
    'carbon: accountant ready',
  );
  if (!provider) log.info('carbon: the static provider has no forecast; forecast metrics and plans hold the annual average flat');

  return {
    currency: config.currency,
    pue,
    useHostDevices: (devices) => embodied.useHostDevices(devices),
    account(share: EnergyShare): ShareFootprint {
      let operationalGrams = 0;
      let energyCost = 0;
      for (const piece of splitShare(share, [...timeline.changesBetween(share.startMs, share.endMs), ...tariff.changesBetween(share.startMs, share.endMs)])) {
        const facilityKwh = joulesToKwh(piece.energyJoules) * pue;
        operationalGrams += facilityKwh * timeline.valueAt(piece.probeMs).gramsPerKwh;
        energyCost += facilityKwh * tariff.priceAt(piece.probeMs);
      }
      const hourPrice = config.deviceHourPrice[share.deviceType] ?? 0;
      return {
        operationalGrams,
        embodiedGrams: embodied.grams(share),
        energyCost,
        hardwareCost: (hourPrice * share.deviceSeconds) / SECONDS_PER_HOUR,
      };
    },
    intensity(nowMs: number): IntensityStatus {
      const value = timeline.valueAt(nowMs);
      const state = stateOf(value, live?.lastRefreshOk ?? false);
      live?.noteState(state, value, nowMs);
      return {
        zone: staticIntensity.zone,
        source: value.source,
        signal: value.signal,
        gramsPerKwh: value.gramsPerKwh,
        ageSeconds: value.fetchedAtMs === undefined ? 0 : (nowMs - value.fetchedAtMs) / 1000,
        state,
      };
    },
    async start() {
      await live?.start(now());
    },
    async close() {
      live?.close();
    },
    async refresh() {
      await live?.refresh(now());
    },
    forecast(nowMs: number): SourcedForecast {
      return buildForecast({
        zone: staticIntensity.zone,
        nowMs,
        pointsAhead: timeline.pointsAhead(nowMs),
        ...(provider && live && { live: { source: provider.name, signal: provider.signal, lastError: live.lastError } }),
        staticGramsPerKwh: staticIntensity.gramsPerKwh,
      });
    },
  };
}

function createTariff(config: Config): Tariff {
  if (!config.tariff) return flatTariff(config.pricePerKwh);
  try {
    return new TimeOfUseTariff(config.tariff, config.tariffTimeZone);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new ConfigError(`config: tariffTimeZone: '${config.tariffTimeZone}' is invalid: expected an IANA time zone such as Europe/Berlin or UTC`);
    }
    throw error;
  }
}

interface SharePiece {
  energyJoules: number;
  /** An instant inside the piece where intensity and price are those of the whole piece. */
  probeMs: number;
}

/**
 * Splits a share at the given instants, energy proportional to time (the share's power is taken as
 * constant over its range, the finest resolution the energy stage gives). A zero-length share is one piece.
 */
export function splitShare(share: Pick<EnergyShare, 'startMs' | 'endMs' | 'energyJoules'>, cuts: number[]): SharePiece[] {
  const { startMs, endMs, energyJoules } = share;
  if (endMs <= startMs) return [{ energyJoules, probeMs: startMs }];
  const edges = [startMs, ...[...new Set(cuts)].filter((t) => t > startMs && t < endMs).sort((a, b) => a - b), endMs];
  const pieces: SharePiece[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const from = edges[i]!;
    const to = edges[i + 1]!;
    pieces.push({ energyJoules: (energyJoules * (to - from)) / (endMs - startMs), probeMs: from });
  }
  return pieces;
}
