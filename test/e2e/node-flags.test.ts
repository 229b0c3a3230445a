import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * otpgate runs with a larger young generation (README, "Operating it"): `npm start`, the `otpgate`
 * command's shebang and the benchmark (which must measure otpgate as it is started) give Node the
 * same flags, and the shebang really starts Node with them.
 */
const FLAG = '--max-semi-space-size=64';

describe('Node flags of the otpgate process', () => {
  it('npm start, the shebang and the benchmark agree', async () => {
    const bench = '../../bench/lib/servers.js'; // plain JavaScript, without types
    const { OTPGATE_NODE_ARGS } = (await import(bench)) as { OTPGATE_NODE_ARGS: string[] };
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${FLAG} dist/cli/index.js serve`);
    expect(readFileSync('src/cli/index.ts', 'utf8').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${FLAG}`);
    expect(OTPGATE_NODE_ARGS).toEqual([FLAG]);
  });

  it('the shebang starts Node with the flag (a script run as the otpgate command is)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otpgate-shebang-'));
    try {
      // The built CLI's first line, on a script that prints the flags Node started with.
      const shebang = readFileSync('dist/cli/index.js', 'utf8').split('\n')[0]!;
      const script = join(dir, 'probe.mjs');
      writeFileSync(script, `${shebang}\nconsole.log(JSON.stringify(process.execArgv));\n`, { mode: 0o755 });
      const run = spawnSync(script, [], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual([FLAG]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
