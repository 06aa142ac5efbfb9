// src/dashboards/ generates deploy/grafana and deploy/prometheus at build time (`npm run generate`); the
// daemon, doctor and report never load it, and the image leaves it out (.dockerignore). This walks the
// static and dynamic relative imports reachable from the entry point and proves it.
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
  const files = [...reachable('bin/footprint.js')].map((file) => relative(ROOT, file));

  it('reaches the whole runtime from bin/footprint.js', () => {
    expect(files).toContain('src/cli.ts');
    expect(files).toContain('src/daemon.ts');
    expect(files).toContain('src/report/queries.ts');
  });

  it('never loads src/dashboards/', () => {
    expect(files.filter((file) => file.startsWith('src/dashboards/'))).toEqual([]);
  });

  it('keeps src/dashboards/ out of the image', () => {
    expect(readFileSync(resolve(ROOT, '.dockerignore'), 'utf8').split('\n')).toContain('src/dashboards/');
  });
});
