import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { NEEDS_REDIS, REDIS_URL } from '../helpers/stores.js';
import { CLI, REPO_ROOT, startServer, stopAllServers } from './server.js';

const run = promisify(execFile);
afterEach(stopAllServers);

/** The parent's environment minus any OTPGATE_* setting, plus these. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('OTPGATE_') && name !== 'NODE_OPTIONS') env[name] = value;
  return { ...env, OTPGATE_LOG_LEVEL: 'silent', ...extra };
}

/**
 * A key revoked with `otpgate keys revoke` (another process, no Redis) is refused by a running server
 * within a second, even though the server had it cached a moment before.
 */
describe('otpgate keys revoke against a running server', () => {
  it('the server refuses the key within one second', async () => {
    const server = await startServer();
    const admin = { authorization: `Bearer ${server.adminToken ?? ''}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/admin/v1/integrations`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'Revoked from the CLI' }) });
    expect(created.status).toBe(201);
    const integration = (await created.json()) as { id: string; keys: { test: { id: string; key: string } } };
    const policy = async (): Promise<number> => {
      const res = await fetch(`${server.url}/v1/policy`, { headers: { 'x-api-key': integration.keys.test.key } });
      await res.arrayBuffer();
      return res.status;
    };

    // Keep the key hot in the server's cache while the CLI revokes it.
    let hammering = true;
    const hammer = (async () => {
      while (hammering) await policy();
    })();
    expect(await policy()).toBe(200);

    const revoked = await run(process.execPath, [CLI, 'keys', 'revoke', integration.id, integration.keys.test.id], { cwd: REPO_ROOT, env: cliEnv({ OTPGATE_DATA_DIR: server.dataDir }) });
    const revokedAt = Date.now();
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: integration.keys.test.id, revoked_at: expect.any(String) });

    let status = await policy();
    while (status !== 401 && Date.now() - revokedAt < 1_000) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = await policy();
    }
    const elapsed = Date.now() - revokedAt;
    hammering = false;
    await hammer;
    expect(status).toBe(401);
    expect(elapsed).toBeLessThanOrEqual(1_000);
    // And it stays refused.
    expect(await policy()).toBe(401);
  }, 60_000);

  it.skipIf(!REDIS_URL)(`publishes the 'keys' notice on the configured Redis${REDIS_URL ? '' : ` (skipped: ${NEEDS_REDIS})`}`, async () => {
    const server = await startServer({ env: { OTPGATE_REDIS_URL: REDIS_URL ?? '' } });
    const admin = { authorization: `Bearer ${server.adminToken ?? ''}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/admin/v1/integrations`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'Revoked with Redis' }) });
    const integration = (await created.json()) as { id: string; keys: { test: { id: string; key: string } } };
    const listener = new Redis(REDIS_URL ?? '');
    try {
      const heard = new Promise<string>((resolve) => listener.on('message', (channel: string) => resolve(channel)));
      await listener.subscribe('otpg:keys');
      await run(process.execPath, [CLI, 'keys', 'revoke', integration.id, integration.keys.test.id], {
        cwd: REPO_ROOT,
        env: cliEnv({ OTPGATE_DATA_DIR: server.dataDir, OTPGATE_REDIS_URL: REDIS_URL ?? '' }),
      });
      expect(await heard).toBe('otpg:keys');
      const res = await fetch(`${server.url}/v1/policy`, { headers: { 'x-api-key': integration.keys.test.key } });
      expect(res.status).toBe(401);
    } finally {
      listener.disconnect();
    }
  }, 60_000);
});
