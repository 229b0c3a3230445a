import { execFileSync } from 'node:child_process';

/** Black-box tests start the built server the way `npm start` does, so build once before the run. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  if (!process.env.OTPGATE_TEST_DATABASE_URL || !process.env.OTPGATE_TEST_REDIS_URL) {
    process.stderr.write(
      'otpgate: the Postgres + Redis suites (test/scale, storage on Postgres) are NOT run: set OTPGATE_TEST_DATABASE_URL ' +
        '(postgres://…) and OTPGATE_TEST_REDIS_URL (redis://…) to run them, as .ci/run does.\n',
    );
  }
}
