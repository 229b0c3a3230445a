/**
 * Two `serve` processes A and B on one Postgres database and one Redis, as behind a load balancer:
 * limits, codes, sessions, deliveries and policy changes are shared, whichever process is asked.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkCode, createIntegration, pollUntil, request, sendCode, waitForCode, type Reply } from '../e2e/client.js';
import { CLI, REPO_ROOT, type Server } from '../e2e/server.js';
import { allSandboxMessages, countByVerification, deployment, phoneBlock, startNode, useScale, type Deployment } from './support.js';

useScale();

const execFileAsync = promisify(execFile);

/** A, then B, on a fresh database (started one after the other: see the last test for both at once). */
async function twoNodes(): Promise<{ dep: Deployment; a: Server; b: Server }> {
  const dep = await deployment();
  const a = await startNode(dep);
  const b = await startNode(dep);
  return { dep, a, b };
}

const redemption = (server: Server, key: string, session?: string): Promise<Reply> =>
  request(server, 'POST', '/v1/authorize', { key, json: { action: 'redemption' }, headers: session ? { 'x-otp-session': session } : {} });

describe('two serve processes on one Postgres and one Redis', () => {
  it('(a) the per-identifier send limit counts across processes: 3 sends through A, the 4th through B is 429', async () => {
    const { a, b } = await twoNodes();
    const { testKey } = await createIntegration(a, { policy: { limits: { send_per_minute: 3 } } });
    const phone = phoneBlock()(1);

    for (let i = 1; i <= 3; i++) {
      const sent = await sendCode(a, testKey, phone);
      expect(sent.status, `send ${i} through A: ${sent.text}`).toBe(201);
    }
    const fourth = await sendCode(b, testKey, phone);
    expect(fourth.status, `4th send through B: ${fourth.text}`).toBe(429);
    expect(fourth.contentType).toMatch(/^application\/problem\+json/);
    expect(fourth.body).toMatchObject({ type: 'rate-limit-exceeded', status: 429 });
    const retryAfter = Number(fourth.headers.get('retry-after'));
    expect(retryAfter, 'Retry-After header').toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(fourth.body.retry_after).toBe(retryAfter);

    // Another identifier is not affected, on either process.
    expect((await sendCode(b, testKey, phoneBlock()(2))).status).toBe(201);
  }, 90_000);

  it('(b, c) a code sent through A is checked on B; its session authorizes on A until B revokes it', async () => {
    const { a, b } = await twoNodes();
    const { testKey } = await createIntegration(a);
    const phone = phoneBlock()(7);

    const sent = await sendCode(a, testKey, phone);
    expect(sent.status, sent.text).toBe(201);
    const code = await waitForCode(b, testKey, phone, 10_000); // read on B: the sandbox is the shared store

    const checked = await checkCode(b, testKey, phone, code);
    expect(checked.status, checked.text).toBe(200);
    expect(checked.body).toMatchObject({ status: 'approved', verification_id: sent.body.id, identifier: phone });
    const session = checked.body.otp_session as string;
    expect(session).toEqual(expect.any(String));

    // Gated without a session; allowed on A with the session B issued (A now has it cached in Redis).
    expect((await redemption(a, testKey)).body).toMatchObject({ type: 'otp-required', status: 403 });
    for (let i = 0; i < 3; i++) {
      const allowed = await redemption(a, testKey, session);
      expect(allowed.status, allowed.text).toBe(200);
      expect(allowed.body).toMatchObject({ allowed: true, otp_required: true, session: { identifier: phone } });
    }

    const revoked = await request(b, 'DELETE', '/v1/sessions/current', { key: testKey, headers: { 'x-otp-session': session } });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body.revoked).toBe(true);

    // At once, on the other process: the shared cache entry went with the revocation.
    const denied = await redemption(a, testKey, session);
    expect(denied.status, denied.text).toBe(403);
    expect(denied.body).toMatchObject({ type: 'otp-required', status: 403 });
    const current = await request(a, 'GET', '/v1/sessions/current', { key: testKey, headers: { 'x-otp-session': session } });
    expect(current.status, current.text).toBe(403);
  }, 90_000);

  it('(d) 200 verifications sent through both processes are delivered exactly once each within 20 s', async () => {
    const { dep, a, b } = await twoNodes();
    const { testKey } = await createIntegration(a);
    const phone = phoneBlock();
    const total = 200;
    const batch = 25;

    const started = Date.now();
    const idOf = new Map<string, string>(); // verification id → phone
    for (let from = 0; from < total; from += batch) {
      const phones = Array.from({ length: batch }, (_, j) => phone(from + j));
      const replies = await Promise.all(phones.map((p, j) => sendCode((from + j) % 2 === 0 ? a : b, testKey, p)));
      replies.forEach((r, j) => {
        expect(r.status, `send to ${phones[j]}: ${r.text}`).toBe(201);
        idOf.set(r.body.id as string, phones[j] as string);
      });
    }
    expect(idOf.size).toBe(total);

    const delivered = await pollUntil(() => allSandboxMessages(b, testKey), (m) => m.length >= total, 20_000 - (Date.now() - started));
    const elapsed = Date.now() - started;
    expect(delivered.length, `captured after ${elapsed} ms`).toBe(total);
    const counts = countByVerification(delivered);
    expect([...counts.keys()].sort()).toEqual([...idOf.keys()].sort());
    expect([...counts.entries()].filter(([, n]) => n !== 1), 'verifications captured more than once').toEqual([]);
    for (const m of delivered) expect(m.to, `message ${m.id}`).toBe(idOf.get(m.verification_id ?? ''));
    expect(new Set(delivered.map((m) => m.id)).size, 'distinct message ids').toBe(total);

    // Still 200 a moment later (no late duplicate), read on the other process, and the outbox is drained.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await allSandboxMessages(a, testKey)).toHaveLength(total);
    const outbox = await dep.pool.query<{ status: string; n: string }>('select status, count(*) as n from outbox group by status');
    expect(outbox.rows.map((r) => [r.status, Number(r.n)])).toEqual([['done', total]]);
  }, 120_000);

  it('(e) a policy PATCH through A is what B answers on GET /v1/policy within 3 s (sooner than its 5 s key cache)', async () => {
    const { a, b } = await twoNodes();
    const integration = await createIntegration(a);
    const policy = (server: Server) => request(server, 'GET', '/v1/policy', { key: integration.testKey });

    // B resolves (and caches) the key and its policy first.
    const before = await policy(b);
    expect(before.status, before.text).toBe(200);
    expect(before.body).toMatchObject({ limits: { send_per_minute: 3 }, code: { length: 6 } });

    const patched = await request(a, 'PATCH', `/admin/v1/integrations/${integration.id}`, {
      bearer: a.adminToken as string,
      json: { policy: { limits: { send_per_minute: 9 }, code: { length: 8 } } },
    });
    expect(patched.status, patched.text).toBe(200);
    const t0 = Date.now();

    const after = await pollUntil(() => policy(b), (r) => (r.body.limits as { send_per_minute?: number } | undefined)?.send_per_minute === 9, 3_000);
    expect(after.body, `B's policy ${Date.now() - t0} ms after the PATCH`).toMatchObject({ limits: { send_per_minute: 9 }, code: { length: 8 } });

    // And B acts on it: its codes now have 8 digits.
    const sent = await sendCode(b, integration.testKey, phoneBlock()(3));
    expect(sent.status, sent.text).toBe(201);
    expect(sent.body.code_length).toBe(8);
  }, 90_000);

  it('(f) replicas started together on a migrated database all come up, whichever creates the shared tables first', async () => {
    // A deployment: a migration job (`otpgate migrate`), then every replica at once. Each replica
    // prepares tables of its own on boot (CREATE TABLE IF NOT EXISTS), and when two do so at the same
    // instant the loser must not die. That instant is made exact here: the test blocks catalog writes
    // (LOCK pg_class IN SHARE MODE) until every replica waits past its "if not exists" check, then
    // creates the same table itself and commits: as if one more replica had just won the race.
    const REPLICAS = 4;
    const dep = await deployment();
    await execFileAsync(process.execPath, [CLI, 'migrate'], { cwd: REPO_ROOT, env: { ...process.env, ...dep.env() }, timeout: 30_000 });
    const prepared = await dep.pool.query<{ name: string }>("select name from (values ('rate_limits')) t(name) where to_regclass('public.' || name) is null");
    const gate = await dep.pool.connect();
    let open = true;
    try {
      await gate.query('begin; lock table pg_catalog.pg_class in share mode');
      const starting = Array.from({ length: REPLICAS }, () => startNode(dep));
      const blocked = async (): Promise<number> =>
        Number((await dep.pool.query<{ n: string }>("select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike 'create table%'")).rows[0]?.n);
      if (prepared.rows.length > 0) {
        expect(await pollUntil(blocked, (n) => n >= REPLICAS, 30_000), 'replicas waiting to create their tables').toBe(REPLICAS);
        for (const { name } of prepared.rows) {
          // The schema rate-limiter-flexible creates (src/limits/limits.ts keeps its counters there).
          await gate.query(`create table ${name} (key varchar(255) primary key, points integer not null default 0, expire bigint)`);
        }
      }
      await gate.query('commit');
      open = false;
      const started = await Promise.allSettled(starting);
      const failed = started.flatMap((r) => (r.status === 'rejected' ? [String(r.reason).match(/exited \(.*?\)|otpgate: [^\n]*/g)?.join(': ') ?? String(r.reason)] : []));
      expect(failed, 'replicas that failed to start').toEqual([]);
      const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const { testKey } = await createIntegration(nodes[0] as Server);
      for (const node of nodes) expect((await request(node, 'GET', '/v1/policy', { key: testKey })).status).toBe(200);
    } finally {
      if (open) await gate.query('rollback').catch(() => {});
      gate.release();
    }
  }, 120_000);
});
