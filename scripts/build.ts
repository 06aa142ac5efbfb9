// Builds the runnable daemon into dist/: one esbuild bundle (ES modules, code-split so `report`'s vega
// and the Kubernetes attribution load only when their dynamic import() runs) plus the NVML worker thread
// as its own entry, with the .proto files the bundle loads at run time copied next to it.
// koffi stays external: it loads a native binary from its platform package.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist`;

/**
 * A CommonJS-only package (the Prometheus exporter) that require()s @opentelemetry/semantic-conventions
 * would pull in its whole CommonJS build (170 KB of constants, kept in the heap as source and objects):
 * such a require gets a module that re-exports from the ES module build just the names the requiring
 * file reads (`semantic_conventions_1.NAME`, as tsc emits them), so the rest is shaken out.
 */
const semanticConventionsByName: Plugin = {
  name: 'semantic-conventions-by-name',
  setup(plugin) {
    plugin.onResolve({ filter: /^@opentelemetry\/semantic-conventions$/ }, (args) =>
      args.kind === 'require-call' ? { path: args.importer, namespace: 'semconv-names' } : undefined,
    );
    plugin.onLoad({ filter: /.*/, namespace: 'semconv-names' }, (args) => {
      const names = new Set(Array.from(readFileSync(args.path, 'utf8').matchAll(/semantic_conventions_1\.(\w+)/g), (match) => match[1]));
      if (names.size === 0) throw new Error(`${args.path} requires @opentelemetry/semantic-conventions but reads no name from it`);
      return { contents: `export { ${[...names].join(', ')} } from '@opentelemetry/semantic-conventions';`, resolveDir: root };
    });
  },
};

rmSync(dist, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'src/cli.ts', out: 'cli' },
    // nvml-worker-client.ts starts `./nvml-worker.js` next to itself; every chunk lands in dist/.
    { in: 'src/devices/nvml-worker.ts', out: 'nvml-worker' },
  ],
  outdir: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  // The ES module build of packages that ship both (the OpenTelemetry SDK) so unused exports are shaken
  // out: the CommonJS build pulls in all of @opentelemetry/semantic-conventions.
  mainFields: ['module', 'main'],
  // Every byte of a loaded chunk stays in the V8 heap as its source string: whitespace and syntax are
  // minified (names are kept, so stack traces still read), about 1 MiB less RSS at start.
  minifyWhitespace: true,
  minifySyntax: true,
  // CommonJS dependencies call require() for Node built-ins; an ES module bundle needs one in scope.
  banner: { js: "import { createRequire as __footprintRequire } from 'node:module'; const require = __footprintRequire(import.meta.url);" },
  // Flat: modules find their files (./proto/, ./nvml-worker.js, ../package.json) relative to import.meta.url.
  chunkNames: '[name]-[hash]',
  plugins: [semanticConventionsByName],
  sourcemap: false,
  logLevel: 'warning',
});
// Read at run time relative to the module that loads them (import.meta.url): otlp-schema.ts and pod-resources.ts.
cpSync(`${root}src/ingest/proto`, `${dist}/proto`, { recursive: true });
cpSync(`${root}src/attribution/kubernetes/podresources-v1.proto`, `${dist}/podresources-v1.proto`);
