// src/dashboards/ generates deploy/grafana and deploy/prometheus at build time (`npm run generate`); the
// daemon, doctor and report never load it, so the bundle (scripts/build.ts bundles from src/cli.ts)
// leaves it out, and the image takes only the bundle (.dockerignore). This walks the static and
// dynamic relative imports reachable from the bundle's entry point and proves it.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [resolve(ROOT, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith('.ts') && !file.endsWith('.js')) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) pending.push(resolve(dirname(file), match[1]!));
  }
  return seen;
}

describe('runtime path', () => {
  const files = [...reachable('src/cli.ts')].map((file) => relative(ROOT, file));

  it('reaches the whole runtime from the bundle entry src/cli.ts', () => {
    expect(files).toContain('src/daemon.ts');
    expect(files).toContain('src/report/queries.ts');
  });

  it('never loads src/dashboards/', () => {
    expect(files.filter((file) => file.startsWith('src/dashboards/'))).toEqual([]);
  });

  it('keeps sources, src/dashboards/ included, out of the image: it takes the bundle, bin, the manifest and koffi', () => {
    const lines = readFileSync(resolve(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));
    expect(lines[0]).toBe('*');
    expect(lines.filter((line) => line.startsWith('!'))).toEqual([
      '!package.json',
      '!bin/',
      '!dist/',
      '!node_modules/koffi/',
      '!node_modules/@koromix/koffi-linux-x64/',
    ]);
  });
});
