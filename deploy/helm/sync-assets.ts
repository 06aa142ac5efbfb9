// Copies the Prometheus rules and Grafana dashboards into the chart, which can only package files under
// its own directory. Run after changing deploy/prometheus/rules or deploy/grafana/dashboards:
//   npx tsx deploy/helm/sync-assets.ts
// test/helm/chart.test.ts fails while the chart's copies differ from the sources.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEPLOY = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHART_FILES = join(DEPLOY, 'helm', 'footprint', 'files');

/** Source directory (under deploy/), chart directory (under files/) and the file suffix copied. */
export const ASSETS = [
  { source: join(DEPLOY, 'prometheus', 'rules'), target: join(CHART_FILES, 'rules'), suffix: '.yaml' },
  { source: join(DEPLOY, 'grafana', 'dashboards'), target: join(CHART_FILES, 'dashboards'), suffix: '.json' },
] as const;

/** The file names of one asset kind in a directory, sorted; none when the directory does not exist. */
export function assetNames(dir: string, suffix: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => name.endsWith(suffix))
        .sort()
    : [];
}

/** Makes each chart directory an exact copy of its source: stale files removed, current ones copied. */
export function syncAssets(): string[] {
  const copied: string[] = [];
  for (const { source, target, suffix } of ASSETS) {
    mkdirSync(target, { recursive: true });
    const names = assetNames(source, suffix);
    for (const stale of assetNames(target, suffix).filter((name) => !names.includes(name))) rmSync(join(target, stale));
    for (const name of names) {
      copyFileSync(join(source, name), join(target, name));
      copied.push(join(target, name));
    }
  }
  return copied;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const path of syncAssets()) console.log(`copied ${path}`);
}
