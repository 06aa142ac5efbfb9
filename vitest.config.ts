import { defineConfig } from 'vitest/config';

/**
 * Tests that assert the daemon's own memory or its scrape latency under attack (RSS bounds under floods and stalled bodies, a capped
 * heap) run after everything else, one file at a time: beside another test file the machine's two
 * cores are shared and the daemon's garbage collection lags, which moves RSS peaks by 40-60 MiB.
 */
const ALONE = [
  'test/hardening/listeners.test.ts',
  'test/hardening/heap-cap.test.ts',
  'test/hardening/memory-budget.test.ts',
  'test/hardening/series-memory.test.ts',
  'test/hardening/windows-flood.test.ts',
  'test/hardening/grpc-memory.test.ts',
  'test/hardening/late-span-flood.test.ts',
];

const shared = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: ALONE,
          // Integration tests start real Prometheus, node_exporter and the daemon on loopback ports;
          // two workers keep a 2-core CI machine responsive.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: { ...shared, name: 'memory', include: ALONE, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
