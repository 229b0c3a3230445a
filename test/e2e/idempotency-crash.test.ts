import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createIntegration, pollUntil, request, sleep, type Reply, type SandboxMessage } from './client.js';
import { makeDataDir, randomAdminToken, startServer, useServers, type Server } from './server.js';

useServers();

const LEASE_MS = 1_000;
const KEY_PREFIX = 'crash-';

/**
 * Issue 10, item 9: keys in flight at a SIGKILL answered 409 for 24 h, some of them for a
 * verification that had been created and whose id the client could never learn.
 *
 * A real server on a SQLite data dir takes bursts of concurrent keyed sends (each key its own
 * identifier). It is frozen (SIGSTOP) at random moments and its store read from outside, read-only,
 * until the committed state holds a key still in flight whose verification already committed (the
 * reported state); it is SIGKILLed right there. A second server on the same data dir then gets every
 * key again with the same body, once the (short, test-set) lease is over: each retry must answer 201
 * (replayed, or run now if nothing had committed), and each key must own exactly one verification,
 * the one its retry names. Only the choice of the moment looks inside; what is asserted is what a
 * client sees, checked against the store afterwards.
 */
describe('Idempotency-Key across a SIGKILL', () => {
  it('keys in flight at the kill answer 201 after the lease, each with exactly one verification', async () => {
    const dataDir = makeDataDir();
    const adminToken = randomAdminToken();
    const env = { OTPGATE_IDEMPOTENCY_LEASE_MS: String(LEASE_MS) };
    const first = await startServer({ dataDir, adminToken, env });
    const integration = await createIntegration(first);
    const scope = `${integration.id}:test`;
    const pid = first.process.pid as number;
    const dbFile = join(dataDir, 'otpgate.db');

    /** Committed keys still in flight, and how many of those already have their verification. */
    const inFlight = (): { claims: number; withVerification: number } => {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true, timeout: 1_000 });
      try {
        const keys = db.prepare("select key from idempotency_keys where scope = ? and status = 'in_flight'").all(scope) as { key: string }[];
        const committed = db.prepare('select count(*) as n from verifications where integration_id = ? and identifier = ?');
        const withVerification = keys.filter(({ key }) => (committed.get(integration.id, key.slice(KEY_PREFIX.length)) as { n: number }).n > 0).length;
        return { claims: keys.length, withVerification };
      } finally {
        db.close();
      }
    };

    const phones: string[] = [];
    const answered = new Map<string, Reply>(); // phone → the answer its first request got before the kill
    let caught: { claims: number; withVerification: number } | null = null;
    for (let burst = 0; burst < 40 && !caught; burst++) {
      const batch = Array.from({ length: 30 }, (_, i) => `+55119866${String(phones.length + i).padStart(5, '0')}`);
      phones.push(...batch);
      let done = false;
      const sends = Promise.all(
        batch.map((phone) =>
          send(first, integration.testKey, phone).then(
            (res) => void answered.set(phone, res),
            () => undefined, // cut off by the kill
          ),
        ),
      ).then(() => (done = true));
      while (!caught) {
        process.kill(pid, 'SIGSTOP');
        const state = inFlight();
        if (state.withVerification > 0) {
          caught = state;
          process.kill(pid, 'SIGKILL');
          break;
        }
        process.kill(pid, 'SIGCONT');
        if (done) break;
        await sleep(Math.random() * 4);
      }
      await sends;
    }
    expect(caught, 'the server was caught with a key in flight whose verification had committed (fault injection)').not.toBeNull();
    const killedAt = Date.now();
    await first.exited;
    for (const res of answered.values()) expect(res.status, res.text).toBe(201);

    const second = await startServer({ dataDir, adminToken, env });
    await sleep(Math.max(0, killedAt + LEASE_MS + 200 - Date.now()));
    const retries = await Promise.all(phones.map((phone) => send(second, integration.testKey, phone)));
    const refused = retries.map((res, i) => ({ phone: phones[i], status: res.status, body: res.text })).filter((r) => r.status !== 201);
    expect(refused, `${caught?.claims} key(s) in flight at the kill, ${caught?.withVerification} with a committed verification`).toEqual([]);

    const idOf = new Map(phones.map((phone, i) => [phone, retries[i]?.body.id as string]));
    // A key answered before the kill keeps its answer.
    for (const [phone, res] of answered) expect(idOf.get(phone), phone).toBe(res.body.id);

    // Exactly one verification per key, the one the retry names, as the sandbox shows them...
    const messages = await pollUntil(() => allMessages(second, integration.testKey), (m) => phones.every((phone) => m.some((x) => x.to === phone)), 15_000);
    const perPhone = new Map<string, string[]>();
    for (const m of messages) perPhone.set(m.to, [...(perPhone.get(m.to) ?? []), m.verification_id ?? 'none']);
    const mismatched = phones.filter((phone) => JSON.stringify(perPhone.get(phone)) !== JSON.stringify([idOf.get(phone)]));
    expect(mismatched.map((phone) => ({ phone, retry: idOf.get(phone), messages: perPhone.get(phone) }))).toEqual([]);
    // ...and as the store holds them (nothing created that no message shows).
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('select identifier, id from verifications where integration_id = ?').all(integration.id) as { identifier: string; id: string }[];
      expect(rows.map((r) => `${r.identifier} ${r.id}`).sort()).toEqual(phones.map((phone) => `${phone} ${idOf.get(phone)}`).sort());
    } finally {
      db.close();
    }
  }, 120_000);
});

function send(server: Server, key: string, phone: string): Promise<Reply> {
  return request(server, 'POST', '/v1/verifications', { key, json: { identifier: phone }, headers: { 'idempotency-key': `${KEY_PREFIX}${phone}` } });
}

async function allMessages(server: Server, key: string): Promise<SandboxMessage[]> {
  const all: SandboxMessage[] = [];
  for (let cursor: string | null = null, firstPage = true; firstPage || cursor; firstPage = false) {
    const res = await request(server, 'GET', `/v1/sandbox/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key });
    all.push(...(res.body.data as SandboxMessage[]));
    cursor = res.body.next_cursor as string | null;
  }
  return all;
}
