import { defineConfig } from 'vitest/config';

// Suites that need Postgres and Redis (test/scale, storage on Postgres, Redis replay records) run when
// OTPGATE_TEST_DATABASE_URL and OTPGATE_TEST_REDIS_URL are set (.ci/run always sets them) and show as
// skipped, with the reason, when they are not; with OTPGATE_TEST_REQUIRE_SERVICES=1 (.ci/run) a
// missing URL fails the run instead (test/global-setup.ts).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'packages/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
