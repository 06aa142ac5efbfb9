// Selects the live provider named by `intensityProvider`; `static` has none (the table is the fallback itself).
import type { Logger } from 'pino';
import { ConfigError, type Config } from '../../config.ts';
import type { HttpOptions } from '../http.ts';
import { CUSTOM_ZONE } from '../static-intensity.ts';
import { WORLD_ZONE } from '../zones.ts';
import { electricityMapsToken, wattTimeCredentials } from './credentials.ts';
import { ELECTRICITYMAPS_DEFAULT_URL, ElectricityMapsProvider } from './electricitymaps.ts';
import { FileProvider } from './file.ts';
import type { IntensityProvider } from './provider.ts';
import { WATTTIME_DEFAULT_URL, WattTimeProvider } from './watttime.ts';

export interface ProviderContext {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  http?: HttpOptions;
}

export function createProvider(config: Config, zone: string, context: ProviderContext): IntensityProvider | undefined {
  const { env, logger, http } = context;
  switch (config.intensityProvider) {
    case 'static':
      return undefined;
    case 'file':
      if (!config.intensityUrl) throw new ConfigError("config: intensityUrl: (missing) is invalid: the file provider needs the series' path");
      return new FileProvider(config.intensityUrl);
    case 'electricitymaps':
      return new ElectricityMapsProvider(
        config.intensityUrl ?? ELECTRICITYMAPS_DEFAULT_URL,
        requireZone(zone, 'electricitymaps'),
        electricityMapsToken(config.intensityTokenFile, env),
        logger,
        http,
      );
    case 'watttime':
      return new WattTimeProvider(
        config.intensityUrl ?? WATTTIME_DEFAULT_URL,
        // WattTime names balancing authorities itself (CAISO_NORTH); FOOTPRINT_WATTTIME_REGION sets one apart from --zone.
        env.FOOTPRINT_WATTTIME_REGION?.trim() || requireZone(zone, 'watttime'),
        wattTimeCredentials(config.intensityTokenFile, env),
        http,
      );
  }
}

function requireZone(zone: string, provider: string): string {
  if (zone === WORLD_ZONE || zone === CUSTOM_ZONE)
    throw new ConfigError(`config: zone: (missing) is invalid: the ${provider} provider needs --zone or --cloud-region`);
  return zone;
}
