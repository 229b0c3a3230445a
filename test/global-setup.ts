import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Black-box tests start the built server the way `npm start` does, so build once before the run. */
export default function setup(): void {
  // OTPGATE_TEST_SKIP_BUILD=1 reuses the last build (a run of unit or route tests while other work is half-typed).
  if (process.env.OTPGATE_TEST_SKIP_BUILD !== '1') execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  // The operator console (dist/dashboard, test/dashboard): built once here, when its sources changed
  // (under OTPGATE_TEST_SKIP_BUILD=1 only when it was never built), never by two suites at once.
  if (process.env.OTPGATE_TEST_SKIP_BUILD !== '1' || !existsSync('dist/dashboard/index.html')) execFileSync(process.execPath, ['scripts/build-dashboard.mjs', '--if-stale'], { stdio: 'inherit' });
  checkChromium();
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

/**
 * The console's browser tests (test/dashboard/*.browser.test.ts) drive Debian's chromium. Without it
 * they show as SKIPPED, saying so here; with OTPGATE_TEST_REQUIRE_SERVICES=1 (.ci/run, which
 * installs it) a missing chromium fails the run instead.
 */
function checkChromium(): void {
  const chromium = process.env.OTPGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(chromium)) return;
  if (process.env.OTPGATE_TEST_REQUIRE_SERVICES === '1') {
    throw new Error(`OTPGATE_TEST_REQUIRE_SERVICES=1 but there is no chromium at ${chromium}: the operator console's browser tests would be skipped (apt-get install chromium)`);
  }
  process.stderr.write(
    `otpgate: NO BROWSER: chromium is not at ${chromium}, so the operator console's browser tests (test/dashboard/*.browser.test.ts) show as SKIPPED. ` +
      'Install it with `apt-get install chromium` (or set OTPGATE_TEST_CHROMIUM to a chromium binary) to run them, as .ci/run does.\n',
  );
}
