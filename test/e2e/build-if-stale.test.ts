import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * `npm start`'s build step (scripts/build-if-stale.mjs, the prestart script) on a small project laid
 * out as the repository is: it compiles when dist/ is missing or older than what it is built from,
 * and otherwise starts nothing.
 */
describe('npm start builds only what changed', () => {
  let dir: string;
  const run = () => spawnSync(process.execPath, [join(dir, 'scripts', 'build-if-stale.mjs')], { cwd: dir, encoding: 'utf8' });
  /** `path` changed after the last build: the stamp is moved a minute back, the file half a minute back. */
  const changed = (path: string) => {
    const at = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(dir, 'dist', '.build-stamp'), at(60), at(60));
    utimesSync(path, at(30), at(30));
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-build-'));
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(ROOT, 'scripts', 'build-if-stale.mjs'), join(dir, 'scripts', 'build-if-stale.mjs'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'main.ts'), 'export const answer: number = 41;\n');
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true } }));
    writeFileSync(join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { rootDir: 'src', outDir: 'dist' }, include: ['src'] }));
    writeFileSync(join(dir, 'package-lock.json'), '{}\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds a checkout without dist/, then skips while nothing changed, and builds again after a change', () => {
    const first = run();
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/built dist\//);
    expect(readFileSync(join(dir, 'dist', 'main.js'), 'utf8')).toContain('41');
    const builtAt = statSync(join(dir, 'dist', 'main.js')).mtimeMs;

    const second = run();
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/up to date/);
    expect(statSync(join(dir, 'dist', 'main.js')).mtimeMs).toBe(builtAt);

    writeFileSync(join(dir, 'src', 'main.ts'), 'export const answer: number = 42;\n');
    changed(join(dir, 'src', 'main.ts'));
    const third = run();
    expect(third.stdout).toMatch(/built dist\//);
    expect(readFileSync(join(dir, 'dist', 'main.js'), 'utf8')).toContain('42');
  }, 120_000); // three compiles

  it('rebuilds when the lock file changes, and fails the start (no stamp) when the build fails', () => {
    changed(join(dir, 'package-lock.json'));
    expect(run().stdout).toMatch(/built dist\//);
    expect(run().stdout).toMatch(/up to date/);

    writeFileSync(join(dir, 'src', 'main.ts'), 'export const answer: number = "not a number";\n');
    changed(join(dir, 'src', 'main.ts'));
    const broken = run();
    expect(broken.status).not.toBe(0);
    // Still stale: the next start tries again instead of starting the old build.
    expect(run().status).not.toBe(0);
  }, 120_000);
});
