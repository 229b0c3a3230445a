/**
 * One `serve` process that reaches Redis and Postgres through TCP proxies the test can cut and
 * restore. Losing Redis only degrades the service; losing Postgres makes it answer 503 quickly; and
 * it recovers from both without a restart, never exiting.
 */
import { describe, expect, it } from 'vitest';
import { checkCode, createIntegration, pollUntil, request, sendCode, sleep, waitForCode, type Reply } from '../e2e/client.js';
import type { Server } from '../e2e/server.js';
import { startProxy, type Proxy } from './proxy.js';
import { DATABASE_URL, REDIS_URL, alive, attempt, codeOf, deployment, phoneBlock, startNode, track, useScale, type Outcome } from './support.js';

useScale();

async function proxiedNode(): Promise<{ server: Server; redis: Proxy; postgres: Proxy }> {
  const dep = await deployment();
  const pgTarget = new URL(DATABASE_URL);
  const redisTarget = new URL(REDIS_URL);
  const postgres = track(await startProxy(pgTarget.hostname, Number(pgTarget.port || 5432)));
  const redis = track(await startProxy(redisTarget.hostname, Number(redisTarget.port || 6379)));
  const server = await startNode(dep, { databaseUrl: postgres.url(dep.databaseUrl), redisUrl: redis.url(REDIS_URL) });
  return { server, redis, postgres };
}

const readyz = (server: Server): Promise<Reply> => request(server, 'GET', '/readyz');
const redisCheck = (r: Reply): unknown => (r.body.checks as { redis?: string } | undefined)?.redis;
const authorize = (server: Server, key: string, session: string): Promise<Reply> =>
  request(server, 'POST', '/v1/authorize', { key, json: { action: 'redemption' }, headers: { 'x-otp-session': session } });

/** Sends until one answers 201 (within 15 s), every answer meanwhile being 201 or 503; returns the tries. */
async function recover(server: Server, key: string, nextPhone: () => string): Promise<number> {
  const tries: Outcome[] = [];
  const last = await pollUntil(
    async () => {
      const o = await attempt(() => sendCode(server, key, nextPhone()));
      tries.push(o);
      return o;
    },
    (o) => 'reply' in o && o.reply.status === 201,
    15_000,
  );
  expect('reply' in last && last.reply.status, `after the restore: ${JSON.stringify(tries.slice(-3))}`).toBe(201);
  expect(tries.filter((o) => !('reply' in o) || ![201, 503].includes(o.reply.status)), 'answers while recovering').toEqual([]);
  return tries.length;
}

function expectAlive(server: Server): void {
  expect(alive(server.process), `otpgate exited:\n${server.stderr()}`).toBe(true);
}

describe('degradation: Redis or Postgres cut off under a running process', () => {
  it('(a, c) Redis cut: sends, limits and checks go on over Postgres, /readyz says redis down, then ok after restore', async () => {
    const { server, redis } = await proxiedNode();
    const { testKey } = await createIntegration(server, { policy: { limits: { send_per_minute: 3 } } });
    const phone = phoneBlock();
    const before = await readyz(server);
    expect(before.status, before.text).toBe(200);
    expect(before.body.checks).toEqual({ database: 'ok', redis: 'ok' });

    redis.cut();
    const down = await pollUntil(() => readyz(server), (r) => redisCheck(r) === 'down', 10_000);
    expect(down.status, `/readyz while Redis is cut: ${down.text}`).toBe(200);
    expect(down.body).toMatchObject({ status: 'degraded', checks: { database: 'ok', redis: 'down' } });

    // Sends and checks succeed; the per-identifier limit still holds (counted in Postgres meanwhile).
    let lastId = '';
    for (let i = 1; i <= 3; i++) {
      const sent = await attempt(() => sendCode(server, testKey, phone(1)));
      expect('reply' in sent && sent.reply.status, `send ${i} with Redis cut: ${JSON.stringify(sent)}`).toBe(201);
      if ('reply' in sent) lastId = sent.reply.body.id as string;
    }
    const limited = await sendCode(server, testKey, phone(1));
    expect(limited.status, limited.text).toBe(429);
    expect(limited.body.type).toBe('rate-limit-exceeded');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    const code = await codeOf(server, testKey, phone(1), lastId);
    const checked = await checkCode(server, testKey, phone(1), code);
    expect(checked.status, checked.text).toBe(200);
    const allowed = await authorize(server, testKey, checked.body.otp_session as string);
    expect(allowed.status, allowed.text).toBe(200);
    expectAlive(server);

    redis.restore();
    const t0 = Date.now();
    const up = await pollUntil(() => readyz(server), (r) => redisCheck(r) === 'ok', 10_000);
    expect(up.body, `/readyz ${Date.now() - t0} ms after the restore`).toMatchObject({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });
    expect(up.status).toBe(200);
    const after = await sendCode(server, testKey, phone(2));
    expect(after.status, after.text).toBe(201);
    expectAlive(server);
  }, 90_000);

  it('(b, c) Postgres cut: 503 unavailable within 15 s (never hangs), /readyz 503, then 201 again within 15 s of the restore', async () => {
    const { server, postgres } = await proxiedNode();
    const { testKey } = await createIntegration(server, { policy: { limits: { send_per_minute: 100 } } });
    const phone = phoneBlock();
    let n = 0;
    expect((await sendCode(server, testKey, phone(n++))).status).toBe(201);

    postgres.cut();
    const cutAt = Date.now();
    const during: Outcome[] = [];
    for (let i = 0; i < 3; i++) during.push(await attempt(() => sendCode(server, testKey, phone(n++))));
    const ready = await attempt(() => readyz(server));
    expectAlive(server);
    for (const o of [...during, ready]) {
      expect('reply' in o, `with Postgres cut: ${JSON.stringify(o)}`).toBe(true);
      if (!('reply' in o)) continue;
      expect(o.reply.status, o.reply.text).toBe(503);
      expect(o.reply.contentType).toMatch(/^application\/problem\+json/);
      expect(o.reply.body).toMatchObject({ type: 'unavailable', status: 503 });
      expect(o.ms, 'answered within 15 s').toBeLessThan(15_000);
    }
    expect('reply' in ready && ready.reply.body.checks).toMatchObject({ database: 'down' });

    postgres.restore();
    const restoredAt = Date.now();
    const retries = await recover(server, testKey, () => phone(n++));
    expect((await readyz(server)).status).toBe(200);
    expectAlive(server);
    process.stdout.write(`degradation: Postgres cut ${restoredAt - cutAt} ms; 201 again ${Date.now() - restoredAt} ms after the restore (${retries} tries)\n`);
  }, 120_000);

  it('(c) Postgres cut while requests are in flight: the process stays up and answers 201 or 503, never a dead socket', async () => {
    const { server, postgres } = await proxiedNode();
    const { testKey } = await createIntegration(server, { policy: { limits: { send_per_minute: 100 } } });
    const phone = phoneBlock();
    let n = 0;

    // Traffic from 8 clients, so that pool connections are checked out at the moment of the cut.
    let loading = true;
    const outcomes: Outcome[] = [];
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (loading && alive(server.process)) outcomes.push(await attempt(() => sendCode(server, testKey, phone(n++))));
      }),
    );
    await sleep(500);
    for (let round = 0; round < 3 && alive(server.process); round++) {
      postgres.cut();
      await sleep(1_500);
      postgres.restore();
      await sleep(1_500);
    }
    loading = false;
    await load;

    expect(alive(server.process), `otpgate exited during a Postgres cut: ${JSON.stringify(await Promise.race([server.exited, sleep(10)]))}\n${server.stderr()}`).toBe(true);
    const statuses = new Map<string, number>();
    for (const o of outcomes) {
      const what = 'reply' in o ? String(o.reply.status) : o.error;
      statuses.set(what, (statuses.get(what) ?? 0) + 1);
    }
    expect([...statuses.keys()].filter((s) => s !== '201' && s !== '503'), `outcomes: ${JSON.stringify([...statuses])}`).toEqual([]);
    expect(statuses.get('201') ?? 0).toBeGreaterThan(0);
    await recover(server, testKey, () => phone(n++));
  }, 120_000);

  it('a session revoked while Redis is down stays revoked once Redis is back', async () => {
    const { server, redis } = await proxiedNode();
    const { testKey } = await createIntegration(server);
    const phone = phoneBlock()(5);
    expect((await sendCode(server, testKey, phone)).status).toBe(201);
    const checked = await checkCode(server, testKey, phone, await waitForCode(server, testKey, phone, 10_000));
    expect(checked.status, checked.text).toBe(200);
    const session = checked.body.otp_session as string;
    expect((await authorize(server, testKey, session)).status).toBe(200); // now cached in Redis

    redis.cut();
    await pollUntil(() => readyz(server), (r) => redisCheck(r) === 'down', 10_000);
    // The revocation is asked for until it is confirmed (a 503 says "retry"); it must end as revoked.
    const revokes: Reply[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await request(server, 'DELETE', '/v1/sessions/current', { key: testKey, headers: { 'x-otp-session': session } });
      revokes.push(r);
      if (r.status !== 503) break;
      await sleep(200);
    }
    const last = revokes[revokes.length - 1] as Reply;
    expect([200, 403], `revocation answers: ${revokes.map((r) => `${r.status} ${r.body.type ?? ''}`).join(', ')}`).toContain(last.status);
    expect((await authorize(server, testKey, session)).status, 'authorize with Redis down').toBe(403);

    redis.restore();
    await pollUntil(() => readyz(server), (r) => redisCheck(r) === 'ok', 10_000);
    const denied = await authorize(server, testKey, session);
    expect(denied.status, `authorize after Redis came back, with the revoked session: ${denied.text}`).toBe(403);
    expect(denied.body.type).toBe('otp-required');
    expectAlive(server);
  }, 90_000);
});
