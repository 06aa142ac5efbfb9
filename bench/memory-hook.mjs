// Preloaded into the daemon by bench/memory.ts (`node --expose-gc --import`): on SIGUSR2 it collects
// garbage and prints one JSON line of process.memoryUsage(), so the bench reads live memory, not
// garbage the collector has not reached yet. Plain JavaScript: it loads before the TypeScript loader.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stdout.write(`${JSON.stringify({ memory: process.memoryUsage() })}\n`);
});
