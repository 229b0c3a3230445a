import { defineConfig } from 'vitest/config';

// The scale-out suite (several otpgate processes on one Postgres + Redis) needs both services: it is
// included when their URLs are set (.ci/run always sets them); the global setup says so otherwise.
const scaleOut = Boolean(process.env.OTPGATE_TEST_DATABASE_URL && process.env.OTPGATE_TEST_REDIS_URL);

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'packages/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(scaleOut ? [] : ['test/scale/**'])],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
