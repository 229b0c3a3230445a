/**
 * One HTTP-only process (`serve --no-worker`) and two `worker` processes. W1 is frozen (SIGSTOP) at a
 * moment it holds claimed, undelivered outbox messages (seen by reading the `outbox` table from
 * outside, read-only), then W2 starts and W1 is SIGKILLed (or, in the second test, woken up after W2
 * took its work over). Every accepted verification must be captured exactly once.
 */
import { describe, expect, it } from 'vitest';
import { createIntegration, pollUntil, sendCode, sleep } from '../e2e/client.js';
import type { Server } from '../e2e/server.js';
import { alive, allSandboxMessages, countByVerification, deployment, phoneBlock, startNode, startWorker, useScale, type Deployment, type Worker } from './support.js';

useScale();

interface Held {
  id: string;
  locked_until: number;
  payload: string;
}

/** The outbox messages `worker` holds right now: claimed by it, still pending, lease not lapsed. */
async function heldBy(dep: Deployment, worker: Worker): Promise<Held[]> {
  const res = await dep.pool.query<{ id: string; locked_until: string; payload_json: string }>(
    "select id, locked_until, payload_json from outbox where status = 'pending' and locked_by = $1 and locked_until > $2",
    [worker.id, Date.now()],
  );
  return res.rows.map((r) => ({ id: r.id, locked_until: Number(r.locked_until), payload: r.payload_json }));
}

/**
 * Sends bursts of verifications (40, then 20 more at a time) through `server` while freezing and
 * thawing W1 at random instants, until W1 is frozen holding claims. Returns with W1 stopped.
 */
async function freezeHoldingClaims(dep: Deployment, server: Server, key: string, w1: Worker): Promise<{ accepted: Map<string, string>; held: Held[] }> {
  const phone = phoneBlock();
  const accepted = new Map<string, string>(); // verification id → phone
  let next = 0;
  for (let burst = 0; burst < 30; burst++) {
    const phones = Array.from({ length: burst === 0 ? 40 : 20 }, () => phone(next++));
    let done = false;
    const sends = Promise.all(
      phones.map(async (p) => {
        const res = await sendCode(server, key, p);
        expect(res.status, res.text).toBe(201);
        accepted.set(res.body.id as string, p);
      }),
    ).finally(() => (done = true));
    sends.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
    for (;;) {
      w1.signal('SIGSTOP');
      await sleep(2);
      const held = await heldBy(dep, w1);
      if (held.length > 0) {
        await sends;
        return { accepted, held };
      }
      w1.signal('SIGCONT');
      if (done) break;
      await sleep(Math.random() * 4);
    }
    await sends;
  }
  throw new Error('W1 was never caught holding claims in 30 bursts');
}

/** Waits until every accepted verification has a captured message; returns all captured messages. */
async function waitDelivered(server: Server, key: string, accepted: Map<string, string>, timeoutMs: number) {
  return pollUntil(() => allSandboxMessages(server, key), (m) => new Set(m.map((x) => x.verification_id)).size >= accepted.size, timeoutMs);
}

function expectExactlyOnce(messages: Awaited<ReturnType<typeof waitDelivered>>, accepted: Map<string, string>): void {
  const counts = countByVerification(messages);
  expect([...accepted.keys()].filter((id) => !counts.has(id)), 'accepted verifications never delivered').toEqual([]);
  expect([...counts.entries()].filter(([, n]) => n !== 1), 'verifications delivered more than once').toEqual([]);
  expect(messages).toHaveLength(accepted.size);
  for (const m of messages) expect(m.to).toBe(accepted.get(m.verification_id ?? ''));
}

const verificationOf = (held: Held): string => (JSON.parse(held.payload) as { verification_id: string }).verification_id;

describe('outbox workers in their own processes', () => {
  it('W1 SIGKILLed while holding claims: W2 delivers them once their lease lapses, every message exactly once', async () => {
    const dep = await deployment();
    const api = await startNode(dep, { args: ['--no-worker'] });
    expect(api.stdout()).toMatch(/no worker/);
    const { testKey } = await createIntegration(api);
    const w1 = await startWorker(dep);

    const { accepted, held } = await freezeHoldingClaims(dep, api, testKey, w1);
    expect(held.length).toBeGreaterThan(0);

    const w2 = await startWorker(dep);
    expect(w2.id).not.toBe(w1.id);
    // W1 is frozen, so its leases are final now: read them again after W2's start, then kill W1.
    const leases = new Map((await dep.pool.query<{ id: string; locked_until: string }>('select id, locked_until from outbox where locked_by = $1 and status = $2', [w1.id, 'pending'])).rows.map((r) => [r.id, Number(r.locked_until)]));
    expect([...leases.keys()].sort(), 'W1 still holds what it was caught with').toEqual(held.map((h) => h.id).sort());
    const killedAt = Date.now();
    expect((await w1.kill()).signal).toBe('SIGKILL');

    const messages = await waitDelivered(api, testKey, accepted, 20_000);
    const elapsed = Date.now() - killedAt;
    expectExactlyOnce(messages, accepted);

    // W1's messages went out through W2, and only after their lease had lapsed (no early steal).
    const byVerification = new Map(messages.map((m) => [m.verification_id, m]));
    for (const h of held) {
      const m = byVerification.get(verificationOf(h));
      expect(m, `message of outbox ${h.id}`).toBeDefined();
      expect(Date.parse(m?.received_at ?? ''), `outbox ${h.id} delivered before W1's lease ended`).toBeGreaterThanOrEqual(leases.get(h.id) ?? Infinity);
    }
    const rows = await dep.pool.query<{ id: string; status: string; locked_by: string; attempts: number }>('select id, status, locked_by, attempts from outbox');
    expect(rows.rows.filter((r) => r.status !== 'done'), 'outbox rows not done').toEqual([]);
    for (const h of held) expect(rows.rows.find((r) => r.id === h.id)).toMatchObject({ locked_by: w2.id, attempts: 2 });

    // Nothing more turns up later, and W2 is fine.
    await sleep(1_500);
    expect(await allSandboxMessages(api, testKey)).toHaveLength(accepted.size);
    expect(alive(w2.process)).toBe(true);
    expect(w2.stderr()).not.toMatch(/"level":(50|60)/);
    process.stdout.write(`worker-crash: ${accepted.size} accepted, ${held.length} held by W1, all delivered ${elapsed} ms after the SIGKILL\n`);
  }, 120_000);

  it('W1 frozen past its lease, W2 takes over, then W1 wakes up: still exactly one message per verification', async () => {
    const dep = await deployment();
    const api = await startNode(dep, { args: ['--no-worker'] });
    const { testKey } = await createIntegration(api);
    const w1 = await startWorker(dep);

    const { accepted, held } = await freezeHoldingClaims(dep, api, testKey, w1);
    const w2 = await startWorker(dep);

    // W2 delivers everything, W1's share after the lease, while W1 is still frozen.
    const messages = await waitDelivered(api, testKey, accepted, 25_000);
    expectExactlyOnce(messages, accepted);

    // The zombie resumes with its stale batch in hand: it must neither duplicate nor undo anything.
    w1.signal('SIGCONT');
    await sleep(3_000);
    expect(alive(w1.process), `W1 died after waking up:\n${w1.stderr()}`).toBe(true);
    expectExactlyOnce(await allSandboxMessages(api, testKey), accepted);
    const rows = await dep.pool.query<{ id: string; status: string; locked_by: string }>('select id, status, locked_by from outbox');
    expect(rows.rows.filter((r) => r.status !== 'done'), 'outbox rows not done').toEqual([]);
    for (const h of held) expect(rows.rows.find((r) => r.id === h.id)?.locked_by).toBe(w2.id);
  }, 120_000);
});
