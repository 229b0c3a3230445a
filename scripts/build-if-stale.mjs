/* global process */
// `npm start`'s build step: compiles src/ to dist/ (tsc -p tsconfig.build.json) only when something
// it is built from changed since the last build, so a start on a built checkout does not pay for a
// compile. Even tsc's own --incremental mode spends seconds making sure nothing changed; comparing
// modification times takes milliseconds.
//
// Built from: every file under src/, tsconfig.json, tsconfig.build.json and package-lock.json (a
// dependency's types can change the output). The stamp dist/.build-stamp is written after a
// successful build; dist/ without it (built by `npm run build` or by the test set-up) is rebuilt once.
// Then the operator console (dashboard/ → dist/dashboard/, scripts/build-dashboard.mjs), by the same
// rule with its own sources and stamp: each half is skipped when its sources did not change.
//   node scripts/build-if-stale.mjs [--force]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');

/** The newest modification time (ms) of a file, or of any file under a directory. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs; // a file removed changes its directory
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const sources = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((p) => newest(join(root, p)));
const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (!process.argv.includes('--force') && builtAt > 0 && sources.every((t) => t < builtAt)) {
  process.stdout.write('otpgate: dist/ is up to date with src/ (nothing to build)\n');
} else {
  const started = Date.now();
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  process.stdout.write(`otpgate: built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

// The console's build script sits beside this one (a project without it has no console to build).
if (existsSync(join(root, 'scripts', 'build-dashboard.mjs'))) {
  const { buildDashboard, dashboardStale } = await import('./build-dashboard.mjs');
  if (process.argv.includes('--force') || dashboardStale()) {
    const { ms } = await buildDashboard();
    process.stdout.write(`otpgate: built dist/dashboard/ in ${(ms / 1000).toFixed(1)} s\n`);
  } else {
    process.stdout.write('otpgate: dist/dashboard/ is up to date with dashboard/ (nothing to build)\n');
  }
}
