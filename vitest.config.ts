import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child-process e2e tests start real gateways; two cores are all we have.
    maxWorkers: 2,
    sequence: { seed: 123456 },
  },
});
