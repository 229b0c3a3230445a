/* global process */
// Builds the operator console (dashboard/) into dist/dashboard/: one ES module bundle (with
// chart.js) and one stylesheet, both named by a hash of their content (served as immutable), and
// index.html pointing at them (served no-cache). Takes about a second.
//   node scripts/build-dashboard.mjs [--if-stale]
// --if-stale: builds only when something it is built from changed since its last build (the
// modification times of dashboard/, the src/ modules it bundles, this script and package-lock.json
// against dist/dashboard/.build-stamp), as `npm start` does through scripts/build-if-stale.mjs.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'dashboard');
const stamp = join(out, '.build-stamp');

/** What the console is built from: its own sources and the src/ modules it imports (policy, event types). */
export const DASHBOARD_SOURCES = [
  'dashboard',
  'src/domain/policy.ts',
  'src/domain/policy-schema.ts',
  'src/webhooks/event-types.ts',
  'scripts/build-dashboard.mjs',
  'package-lock.json',
];

export function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** Whether dist/dashboard is older than anything it is built from (or missing). */
export function dashboardStale() {
  const builtAt = existsSync(stamp) && existsSync(join(out, 'index.html')) ? statSync(stamp).mtimeMs : 0;
  return builtAt === 0 || DASHBOARD_SOURCES.some((p) => newest(join(root, p)) >= builtAt);
}

export async function buildDashboard() {
  const started = Date.now();
  const { build } = await import('esbuild');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: 'dashboard/src/main.ts', styles: 'dashboard/styles.css' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    outdir: join(out, 'assets'),
    entryNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const script = outputs.find((f) => /^app-[A-Z0-9]+\.js$/i.test(f));
  const styles = outputs.find((f) => /^styles-[A-Z0-9]+\.css$/i.test(f));
  if (!script || !styles) throw new Error(`dashboard build: unexpected outputs ${outputs.join(', ')}`);
  const html = readFileSync(join(root, 'dashboard', 'index.html'), 'utf8').replace('%SCRIPT%', `/dashboard/assets/${script}`).replace('%STYLES%', `/dashboard/assets/${styles}`);
  writeFileSync(join(out, 'index.html'), html);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  return { ms: Date.now() - started, script, styles };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--if-stale') && !dashboardStale()) {
    process.stdout.write('otpgate: dist/dashboard/ is up to date with dashboard/ (nothing to build)\n');
  } else {
    const { ms } = await buildDashboard();
    process.stdout.write(`otpgate: built dist/dashboard/ in ${(ms / 1000).toFixed(1)} s\n`);
  }
}
