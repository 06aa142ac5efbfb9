// Writes the generated dashboards and rule files: `npx tsx src/dashboards/write.ts`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAll } from './render.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
for (const [path, text] of renderAll()) {
  mkdirSync(dirname(join(repoRoot, path)), { recursive: true });
  writeFileSync(join(repoRoot, path), text);
  console.log(`wrote ${path}`);
}
