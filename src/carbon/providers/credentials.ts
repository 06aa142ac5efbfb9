// Provider secrets from `intensityTokenFile` (a mounted Kubernetes Secret) or the environment. Never logged.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config.ts';
import type { WattTimeCredentials } from './watttime.ts';

function readTokenFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`config: intensityTokenFile: cannot read '${path}': ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Electricity Maps: the token file's content, else FOOTPRINT_ELECTRICITYMAPS_TOKEN. */
export function electricityMapsToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv): string {
  const token = tokenFile ? readTokenFile(tokenFile) : env.FOOTPRINT_ELECTRICITYMAPS_TOKEN?.trim();
  if (!token) {
    throw new ConfigError('config: intensityTokenFile: electricitymaps needs an API token: set --intensity-token-file or FOOTPRINT_ELECTRICITYMAPS_TOKEN');
  }
  return token;
}

/** WattTime: the token file holds `username:password` (first colon splits), else the two env variables. */
export function wattTimeCredentials(tokenFile: string | undefined, env: NodeJS.ProcessEnv): WattTimeCredentials {
  if (tokenFile) {
    const text = readTokenFile(tokenFile);
    const colon = text.indexOf(':');
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
    throw new ConfigError('config: intensityTokenFile: for watttime the file must hold username:password');
  }
  const username = env.FOOTPRINT_WATTTIME_USERNAME?.trim();
  const password = env.FOOTPRINT_WATTTIME_PASSWORD;
  if (!username || !password) {
    throw new ConfigError(
      'config: intensityTokenFile: watttime needs credentials: set --intensity-token-file (username:password) or FOOTPRINT_WATTTIME_USERNAME and FOOTPRINT_WATTTIME_PASSWORD',
    );
  }
  return { username, password };
}
