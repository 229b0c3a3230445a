import { describe, expect, it } from 'vitest';
import { checkCode, createIntegration, sendCode, waitForCode, wrongCode } from './client.js';
import { makeDataDir, randomAdminToken, startServer, useServers, type Server } from './server.js';

useServers();

/** SIGTERM, which must end the process cleanly (exit code 0), then a new server on the same data dir. */
async function restart(server: Server): Promise<Server> {
  const exit = await server.stop('SIGTERM');
  expect(exit, `stdout:\n${server.stdout()}\nstderr:\n${server.stderr()}`).toEqual({ code: 0, signal: null });
  return startServer({ dataDir: server.dataDir, adminToken: server.adminToken });
}

describe('rate limits and lockouts survive a restart', () => {
  it('send_per_minute: 2 codes before a restart, the 3rd after it → 429 rate-limit-exceeded with Retry-After', async () => {
    const first = await startServer({ dataDir: makeDataDir(), adminToken: randomAdminToken() });
    const integration = await createIntegration(first, { policy: { limits: { send_per_minute: 2 } } });
    const phone = '+5511987653333';
    for (let i = 0; i < 2; i++) {
      const sent = await sendCode(first, integration.testKey, phone);
      expect(sent.status, sent.text).toBe(201);
    }

    const second = await restart(first);
    const third = await sendCode(second, integration.testKey, phone);
    expect(third.status, third.text).toBe(429);
    expect(third.contentType).toMatch(/^application\/problem\+json/);
    expect(third.body).toMatchObject({ type: 'rate-limit-exceeded', status: 429 });
    const retryAfter = Number(third.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${third.headers.get('retry-after')}`).toBe(true);
    expect(third.body.retry_after).toBe(retryAfter);

    // The limit is per identifier: another number is not affected.
    expect((await sendCode(second, integration.testKey, '+5511987653334')).status).toBe(201);
  }, 60_000);

  it('lockout: 3 wrong checks before a restart, the next check after it → 429 identifier-locked with lock_duration > 0', async () => {
    const first = await startServer({ dataDir: makeDataDir(), adminToken: randomAdminToken() });
    const integration = await createIntegration(first, { policy: { checks: { max_attempts: 10 }, lockout: { max_failures: 3 } } });
    const phone = '+5511987654444';
    const sent = await sendCode(first, integration.testKey, phone);
    expect(sent.status, sent.text).toBe(201);
    const code = await waitForCode(first, integration.testKey, phone, 5_000);
    const wrong = wrongCode(code);

    for (let i = 0; i < 3; i++) {
      const res = await checkCode(first, integration.testKey, phone, wrong);
      expect(res.status, res.text).toBe(401);
      expect(res.body.type).toBe('invalid-code');
    }

    const second = await restart(first);
    // Even the right code is refused while the lock holds.
    const locked = await checkCode(second, integration.testKey, phone, code);
    expect(locked.status, locked.text).toBe(429);
    expect(locked.contentType).toMatch(/^application\/problem\+json/);
    expect(locked.body.type).toBe('identifier-locked');
    expect(typeof locked.body.lock_duration).toBe('number');
    expect(locked.body.lock_duration as number).toBeGreaterThan(0);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  }, 60_000);
});
