import { defineConfig } from 'vitest/config';

/**
 * The fault tests (test/faults): real server processes killed, a private PostgreSQL restarted,
 * fake vendors taken down. One file at a time: each loads the machine on purpose, and its
 * timings (every request ends within a bound) must not be made by the neighbours.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
