// Which static intensity applies: --intensity override, else the zone (or the cloud region's zone), else the world average.
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../config.ts';
import { bundledZonesLike, lookupZone, worldAverage, zoneForCloudRegion, type ZoneIntensity } from './zones.ts';

/** Zone label when --intensity is given without a zone or region. */
export const CUSTOM_ZONE = 'custom';

/** The zone named by config: `zone` wins over `cloudRegion`; an unknown cloud region is a config error. */
function configuredZone(config: Pick<Config, 'zone' | 'cloudRegion'>): string | undefined {
  if (config.zone) return config.zone.trim().toUpperCase();
  if (!config.cloudRegion) return undefined;
  const zone = zoneForCloudRegion(config.cloudRegion);
  if (!zone) {
    throw new ConfigError(
      `config: cloudRegion: '${config.cloudRegion}' is invalid: expected an AWS, GCP or Azure region such as us-east-1, europe-west4 or westeurope (optionally prefixed aws:, gcp:, azure:)`,
    );
  }
  return zone;
}

/**
 * Resolves the static value. A zone missing from the table is an error for the static provider (the
 * number would be invented) but not for live providers, whose API may know zones we don't: their static
 * fallback is the cloud region's zone if one is configured, else the world average with a warning.
 */
export function resolveStaticIntensity(config: Pick<Config, 'zone' | 'cloudRegion' | 'intensity' | 'intensityProvider'>, logger: Logger): ZoneIntensity {
  const zone = configuredZone(config);
  if (config.intensity !== undefined) {
    return { zone: zone ?? CUSTOM_ZONE, name: 'configured', gramsPerKwh: config.intensity, year: 0, source: 'override' };
  }
  if (zone === undefined) {
    const world = worldAverage();
    logger.warn(
      { gramsPerKwh: world.gramsPerKwh, year: world.year },
      'carbon: no zone configured (--zone or --cloud-region); using the world average grid intensity, which can be several times off for your grid',
    );
    return world;
  }
  const row = lookupZone(zone);
  if (row) return row;
  if (config.intensityProvider === 'static') {
    const like = bundledZonesLike(zone);
    const suggestion = like.length > 0 ? `; the bundled table has ${like.join(', ')}` : '';
    throw new ConfigError(
      `config: zone: '${zone}' is invalid: expected an ISO 3166-1 alpha-2 country code (DE, US) or a grid region such as US-CAL-CISO listed in docs/methodology.md${suggestion}`,
    );
  }
  // A provider's own region name (WattTime's CAISO_NORTH): the cloud region, if given, still locates the grid.
  const regionZone = config.cloudRegion ? zoneForCloudRegion(config.cloudRegion) : undefined;
  const regionRow = regionZone ? lookupZone(regionZone) : undefined;
  if (regionRow) return { ...regionRow, zone };
  const world = worldAverage();
  logger.warn({ zone, gramsPerKwh: world.gramsPerKwh }, 'carbon: zone has no bundled annual average; the static fallback uses the world average');
  return { ...world, zone };
}
