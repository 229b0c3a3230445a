import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime.js';
import { loadConfig } from '../../src/config.js';
import pino from 'pino';

/** The `otpgate` CLI, run as a user would, on a data dir of its own. */
let dir: string;
const env = () => {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTPGATE_')) clean[k] = v;
  return { ...clean, OTPGATE_DATA_DIR: dir, OTPGATE_LOG_LEVEL: 'silent' };
};
const cli = (...args: string[]) => spawnSync('node', ['dist/cli/index.js', ...args], { env: env(), encoding: 'utf8' });
const json = (...args: string[]) => JSON.parse(execFileSync('node', ['dist/cli/index.js', ...args], { env: env(), encoding: 'utf8' })) as Record<string, unknown>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'otpgate-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('otpgate CLI', () => {
  it('migrate brings an empty store up to date, then says it is', () => {
    expect(cli('migrate').stdout).toMatch(/^applied: 001-initial/);
    expect(cli('migrate').stdout).toContain('schema is up to date');
  });

  it('integrations create prints both keys once; list shows it; keys create and revoke work against the API', async () => {
    const created = json('integrations', 'create', '--name', 'Kiosk', '--trust-level', 'relaxed') as {
      id: string;
      trust_level: string;
      keys_issued: { test: { key: string; id: string }; live: { key: string } };
    };
    expect(created.trust_level).toBe('relaxed');
    expect(created.keys_issued.test.key).toMatch(/^otpg_test_/);
    expect(created.keys_issued.live.key).toMatch(/^otpg_live_/);
    const listed = JSON.parse(cli('integrations', 'list').stdout) as { id: string; name: string }[];
    expect(listed).toContainEqual(expect.objectContaining({ id: created.id, name: 'Kiosk' }));

    const extra = json('keys', 'create', created.id, '--mode', 'live') as { id: string; key: string; signing_secret: string };
    expect(extra.key).toMatch(/^otpg_live_/);
    expect(extra.signing_secret).toMatch(/^otpg_sig_/);

    // The keys work against a server on the same store, until revoked.
    const rt = await createRuntime(loadConfig({ OTPGATE_DATA_DIR: dir, OTPGATE_ADMIN_TOKEN: 'x'.repeat(20) }), { logger: pino({ level: 'silent' }), worker: false });
    try {
      const policy = () => rt.app.inject({ method: 'GET', url: '/v1/policy', headers: { 'x-api-key': extra.key } });
      expect((await policy()).statusCode).toBe(200);
      expect(json('keys', 'revoke', created.id, extra.id)).toMatchObject({ id: extra.id, revoked_at: expect.any(String) });
      await new Promise((r) => setTimeout(r, 5_100)); // another process's cache of the key lapses within 5 s
      expect((await policy()).statusCode).toBe(401);
    } finally {
      await rt.close();
    }
  }, 30_000);

  it('refuses bad arguments with a message and a non-zero exit', () => {
    const bad = cli('integrations', 'create', '--name', 'X', '--trust-level', 'paranoid');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--trust-level');
    const unknownKey = cli('keys', 'revoke', 'int_nope', 'key_nope');
    expect(unknownKey.status).toBe(1);
    expect(unknownKey.stdout).toContain('not-found');
  });
});
