import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../e2e/server.js';

/**
 * `npm start`'s build step builds the console too, and skips each half (tsc, the console) when what
 * it is built from did not change: on a small project laid out as the repository is.
 */
describe('npm start builds the console only when its sources changed', () => {
  let dir: string;
  const run = () => {
    const started = Date.now();
    const r = spawnSync(process.execPath, [join(dir, 'scripts', 'build-if-stale.mjs')], { cwd: dir, encoding: 'utf8' });
    return { ...r, ms: Date.now() - started };
  };
  /** `path` changed after the last builds: every source 90 s back, both stamps a minute back, the file half a minute back. */
  const changed = (path: string) => {
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000);
    const age = (p: string): void => {
      utimesSync(p, at(90), at(90));
      if (statSync(p).isDirectory()) for (const entry of readdirSync(p)) age(join(p, entry));
    };
    for (const source of ['src', 'dashboard', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) age(join(dir, source));
    utimesSync(join(dir, 'dist', '.build-stamp'), at(60), at(60));
    utimesSync(join(dir, 'dist', 'dashboard', '.build-stamp'), at(60), at(60));
    utimesSync(path, at(30), at(30));
  };
  const script = () => readdirSync(join(dir, 'dist', 'dashboard', 'assets')).find((f) => /^app-.*\.js$/.test(f))!;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-console-build-'));
    mkdirSync(join(dir, 'scripts'));
    for (const s of ['build-if-stale.mjs', 'build-dashboard.mjs']) cpSync(join(REPO_ROOT, 'scripts', s), join(dir, 'scripts', s));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'main.ts'), 'export const answer: number = 41;\n');
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true } }));
    writeFileSync(join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { rootDir: 'src', outDir: 'dist' }, include: ['src'] }));
    writeFileSync(join(dir, 'package-lock.json'), '{}\n');
    mkdirSync(join(dir, 'dashboard', 'src'), { recursive: true });
    writeFileSync(join(dir, 'dashboard', 'index.html'), '<link rel="stylesheet" href="%STYLES%"><script type="module" src="%SCRIPT%"></script>\n');
    writeFileSync(join(dir, 'dashboard', 'styles.css'), 'body { color: red; }\n');
    writeFileSync(join(dir, 'dashboard', 'src', 'main.ts'), 'document.title = "one";\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds both halves, then skips both quickly, then rebuilds only the half whose sources changed', () => {
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/built dist\/ in/);
    expect(first.stdout).toMatch(/built dist\/dashboard\/ in/);
    const html = readFileSync(join(dir, 'dist', 'dashboard', 'index.html'), 'utf8');
    expect(html).toContain(`/dashboard/assets/${script()}`);
    expect(readFileSync(join(dir, 'dist', 'dashboard', 'assets', script()), 'utf8')).toContain('one');

    const second = run();
    expect(second.stdout).toMatch(/dist\/ is up to date/);
    expect(second.stdout).toMatch(/dist\/dashboard\/ is up to date/);
    expect(second.ms).toBeLessThan(2_000);

    writeFileSync(join(dir, 'dashboard', 'src', 'main.ts'), 'document.title = "two";\n');
    changed(join(dir, 'dashboard', 'src', 'main.ts'));
    const third = run();
    expect(third.stdout).toMatch(/dist\/ is up to date/);
    expect(third.stdout).toMatch(/built dist\/dashboard\/ in/);
    expect(readFileSync(join(dir, 'dist', 'dashboard', 'assets', script()), 'utf8')).toContain('two');

    writeFileSync(join(dir, 'src', 'main.ts'), 'export const answer: number = 42;\n');
    changed(join(dir, 'src', 'main.ts'));
    const fourth = run();
    expect(fourth.stdout).toMatch(/built dist\/ in/);
    expect(fourth.stdout).toMatch(/dist\/dashboard\/ is up to date/);
  }, 120_000);

  it('fails the start when the console does not build, and tries again next time', () => {
    writeFileSync(join(dir, 'dashboard', 'src', 'main.ts'), 'document.title = ;\n');
    changed(join(dir, 'dashboard', 'src', 'main.ts'));
    const broken = run();
    expect(broken.status).not.toBe(0);
    expect(run().status).not.toBe(0); // still stale: no stamp was written
    writeFileSync(join(dir, 'dashboard', 'src', 'main.ts'), 'document.title = "three";\n');
    const fixed = run();
    expect(fixed.status).toBe(0);
    expect(fixed.stdout).toMatch(/built dist\/dashboard\/ in/);
  }, 60_000);
});
