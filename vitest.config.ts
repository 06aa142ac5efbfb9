import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real Prometheus, node_exporter and the daemon on loopback ports;
    // two workers keep a 2-core CI machine responsive.
    maxWorkers: 2,
  },
});
