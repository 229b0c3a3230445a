import { execFileSync } from 'node:child_process';

/** Black-box tests start the built server the way `npm start` does, so build once before the run. */
export default function setup(): void {
  // OTPGATE_TEST_SKIP_BUILD=1 reuses the last build (a run of unit or route tests while other work is half-typed).
  if (process.env.OTPGATE_TEST_SKIP_BUILD !== '1') execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const missing = ['OTPGATE_TEST_DATABASE_URL', 'OTPGATE_TEST_REDIS_URL'].filter((name) => !process.env[name]);
  if (missing.length === 0) return;
  if (process.env.OTPGATE_TEST_REQUIRE_SERVICES === '1') {
    throw new Error(`OTPGATE_TEST_REQUIRE_SERVICES=1 but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} unset: the suites that need Postgres and Redis would be skipped`);
  }
  process.stderr.write(
    `otpgate: ${missing.join(' and ')} unset: the suites that need Postgres and Redis (test/scale, storage on Postgres, Redis replay records) ` +
      'show as SKIPPED. Set OTPGATE_TEST_DATABASE_URL (postgres://…) and OTPGATE_TEST_REDIS_URL (redis://…) to run them, as .ci/run does.\n',
  );
}
