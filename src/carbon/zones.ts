// Static grid intensity: the bundled per-zone annual averages and the cloud-region -> zone map.
import gridIntensity from './data/grid-intensity.json' with { type: 'json' };
import cloudRegions from './data/cloud-regions.json' with { type: 'json' };

export interface ZoneIntensity {
  zone: string;
  name: string;
  gramsPerKwh: number;
  year: number;
  /** Key of grid-intensity.json `sources` (ember, electricitymaps), or `override` for --intensity. */
  source: string;
}

/** Zone label used when no zone is configured and the world average applies. */
export const WORLD_ZONE = 'WORLD';

type CloudProvider = 'aws' | 'gcp' | 'azure';
const CLOUD_PROVIDERS: CloudProvider[] = ['aws', 'gcp', 'azure'];

const zoneTable = gridIntensity.zones as Record<string, Omit<ZoneIntensity, 'zone'>>;
const regionTables = cloudRegions as unknown as Record<CloudProvider, Record<string, string>>;

/** Case-insensitive lookup of a country code (ISO 3166-1 alpha-2) or grid-region key (US-CAL-CISO). */
export function lookupZone(zone: string): ZoneIntensity | undefined {
  const key = zone.trim().toUpperCase();
  const row = zoneTable[key];
  return row ? { zone: key, ...row } : undefined;
}

/** The zones examples name (`plan --zones`): each is in the bundled table, so the static provider, the default, accepts them. */
export const ZONES_EXAMPLE = 'DE,FR,US-CAL-CISO';

/** Most zones an error suggests (the US alone has 19 grid regions). */
const MAX_SUGGESTED_ZONES = 8;

/** Bundled zones of `zone`'s country (SE for SE-SE3; US-CAL-CISO, US-TEX-ERCO... for US-X), for an error to suggest. */
export function bundledZonesLike(zone: string): string[] {
  const country = zone.trim().toUpperCase().split('-')[0]!;
  return Object.keys(zoneTable)
    .filter((key) => key === country || key.startsWith(`${country}-`))
    .slice(0, MAX_SUGGESTED_ZONES);
}

export function worldAverage(): ZoneIntensity {
  return { zone: WORLD_ZONE, ...gridIntensity.world };
}

/** `us-east-1`, `aws:us-east-1`, `gcp:europe-west4`, `westeurope` -> its grid zone. */
export function zoneForCloudRegion(region: string): string | undefined {
  const text = region.trim().toLowerCase();
  const colon = text.indexOf(':');
  if (colon > 0) {
    const provider = text.slice(0, colon) as CloudProvider;
    return CLOUD_PROVIDERS.includes(provider) ? regionTables[provider][text.slice(colon + 1)] : undefined;
  }
  for (const provider of CLOUD_PROVIDERS) {
    const zone = regionTables[provider][text];
    if (zone) return zone;
  }
  return undefined;
}
