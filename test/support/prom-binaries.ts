// Locates the real prometheus/promtool binaries. Tests skip without them on a developer machine,
// but in CI (CI=true) a missing binary must fail loudly rather than silently skip coverage.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type PromBinary = 'prometheus' | 'promtool';

/** Absolute path of the binary on PATH (or /usr/bin), or undefined when it is not installed. */
export function findPromBinary(name: PromBinary): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  return undefined;
}

/**
 * Whether a suite that needs `names` should skip. Throws in CI so a runner without the
 * Debian prometheus package turns red instead of reporting a green, empty run.
 */
export function skipWithoutPromBinaries(...names: PromBinary[]): boolean {
  const missing = names.filter((name) => findPromBinary(name) === undefined);
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') {
    throw new Error(`${missing.join(', ')} not found on PATH; install the Debian 'prometheus' package (apt-get install prometheus)`);
  }
  return true;
}
