import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { checkCode, createIntegration, pollUntil, request, sandboxMessages, sendCode, sleep, type SandboxMessage } from './client.js';
import { makeDataDir, randomAdminToken, startServer, useServers } from './server.js';

useServers();

describe('crash recovery: an accepted verification is delivered exactly once across a SIGKILL', () => {
  it('a code queued by a --no-worker server that is then killed is delivered once by the next server', async () => {
    const dataDir = makeDataDir();
    const adminToken = randomAdminToken();
    const first = await startServer({ dataDir, adminToken, args: ['--no-worker'] });
    expect(first.stdout()).toMatch(/no worker/);
    const integration = await createIntegration(first);
    const phone = '+5511987650001';

    const sent = await sendCode(first, integration.testKey, phone);
    expect(sent.status, sent.text).toBe(201);
    // Without a worker nothing is delivered: the message only sits in the outbox.
    await sleep(700);
    expect(await sandboxMessages(first, integration.testKey, phone)).toEqual([]);

    const exit = await first.kill();
    expect(exit.signal).toBe('SIGKILL');

    const second = await startServer({ dataDir, adminToken });
    const messages = await pollUntil(() => sandboxMessages(second, integration.testKey, phone), (m) => m.length > 0, 5_000);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.verification_id).toBe(sent.body.id);
    // Still exactly one a moment later (no second delivery of the same outbox message).
    await sleep(1_000);
    expect(await sandboxMessages(second, integration.testKey, phone)).toHaveLength(1);

    const checked = await checkCode(second, integration.testKey, phone, messages[0]?.code as string);
    expect(checked.status, checked.text).toBe(200);
    expect(checked.body.verification_id).toBe(sent.body.id);
  }, 60_000);

  it('20 codes accepted right before a SIGKILL are all delivered after a restart, each exactly once', async () => {
    const dataDir = makeDataDir();
    const adminToken = randomAdminToken();
    const first = await startServer({ dataDir, adminToken });
    const integration = await createIntegration(first);
    const phones = Array.from({ length: 20 }, (_, i) => `+55119876510${String(i).padStart(2, '0')}`);

    const sent = await Promise.all(phones.map((phone) => sendCode(first, integration.testKey, phone)));
    const killed = first.kill(); // right after the last 201
    for (const res of sent) expect(res.status, res.text).toBe(201);
    expect((await killed).signal).toBe('SIGKILL');
    const idOf = new Map(phones.map((phone, i) => [phone, sent[i]?.body.id as string]));

    const second = await startServer({ dataDir, adminToken });
    const ours = (all: SandboxMessage[]): SandboxMessage[] => all.filter((m) => idOf.has(m.to));
    const delivered = await pollUntil(async () => ours(await sandboxMessages(second, integration.testKey)), (m) => m.length >= 20, 10_000);
    expect(delivered.map((m) => m.to).sort(), 'every accepted code is delivered within 10 s of the restart').toEqual([...phones].sort());

    // One message per verification, each carrying that verification's id.
    const perVerification = new Map<string, number>();
    for (const m of delivered) perVerification.set(m.verification_id ?? 'none', (perVerification.get(m.verification_id ?? 'none') ?? 0) + 1);
    expect([...perVerification.keys()].sort()).toEqual([...idOf.values()].sort());
    expect([...perVerification.values()].every((n) => n === 1)).toBe(true);
    for (const m of delivered) expect(m.verification_id).toBe(idOf.get(m.to));

    // And it stays at 20: no late duplicate.
    await sleep(1_000);
    expect(ours(await sandboxMessages(second, integration.testKey))).toHaveLength(20);
  }, 60_000);

  it('a SIGKILL while the worker holds claimed, undelivered messages: they are delivered within 10 s of the restart, once', async () => {
    // Fault injection: the server is frozen with SIGSTOP at random moments while it delivers a burst,
    // and its store is read (read-only, from outside) to see whether the worker holds claimed but
    // unfinished messages at that instant; if so, it is SIGKILLed right there. Only the choice of the
    // moment looks inside; what is asserted is what a client sees.
    const dataDir = makeDataDir();
    const adminToken = randomAdminToken();
    const first = await startServer({ dataDir, adminToken });
    const integration = await createIntegration(first);
    const pid = first.process.pid as number;
    const dbFile = join(dataDir, 'otpgate.db');

    const inFlightClaims = (): number => {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true, timeout: 1_000 });
      try {
        const row = db.prepare("select count(*) as n from outbox where status = 'pending' and locked_by is not null and locked_until > ?").get(Date.now()) as { n: number };
        return row.n;
      } finally {
        db.close();
      }
    };

    const accepted = new Map<string, string>(); // phone → verification id
    let caught = false;
    let next = 0;
    for (let burst = 0; burst < 40 && !caught; burst++) {
      const phones = Array.from({ length: 20 }, () => `+55119877${String(next++).padStart(5, '0')}`);
      let done = false;
      const sends = Promise.all(
        phones.map((phone) =>
          sendCode(first, integration.testKey, phone).then(
            (res) => {
              if (res.status === 201) accepted.set(phone, res.body.id as string);
            },
            () => undefined, // cut off by the kill
          ),
        ),
      ).then(() => (done = true));
      while (!caught) {
        process.kill(pid, 'SIGSTOP');
        await sleep(2);
        if (inFlightClaims() > 0) {
          caught = true;
          process.kill(pid, 'SIGKILL');
          break;
        }
        process.kill(pid, 'SIGCONT');
        if (done && inFlightClaims() === 0) break;
        await sleep(Math.random() * 3);
      }
      await sends;
    }
    expect(caught, 'the worker was caught holding a claim (fault injection)').toBe(true);
    await first.exited;
    const stranded = await (async () => {
      const db = new Database(dbFile, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare("select count(*) as n from outbox where status = 'pending' and locked_by is not null").get() as { n: number }).n;
      } finally {
        db.close();
      }
    })();
    expect(stranded).toBeGreaterThan(0);

    const second = await startServer({ dataDir, adminToken });
    const started = Date.now();
    const allMessages = async (): Promise<SandboxMessage[]> => {
      const all: SandboxMessage[] = [];
      for (let cursor: string | null = null, firstPage = true; firstPage || cursor; firstPage = false) {
        const res = await request(second, 'GET', `/v1/sandbox/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key: integration.testKey });
        all.push(...(res.body.data as SandboxMessage[]));
        cursor = res.body.next_cursor as string | null;
      }
      return all;
    };
    const messages = await pollUntil(allMessages, (m) => [...accepted.keys()].every((phone) => m.some((x) => x.to === phone)), 10_000);
    const missing = [...accepted.keys()].filter((phone) => !messages.some((m) => m.to === phone));
    expect(missing, `${stranded} claimed message(s) stranded by the kill; not delivered ${Date.now() - started} ms after the restart`).toEqual([]);
    const ids = messages.map((m) => m.verification_id);
    expect(new Set(ids).size).toBe(ids.length);
  }, 90_000);

  it('a SIGKILL while the worker is busy under sustained load: every accepted code is delivered within 10 s of the restart, once', async () => {
    const dataDir = makeDataDir();
    const adminToken = randomAdminToken();
    const first = await startServer({ dataDir, adminToken });
    const integration = await createIntegration(first);

    // Ten clients send codes back to back; the process is killed as soon as 60 were accepted, while
    // the worker is in the middle of delivering (the state the previous test only hits sometimes).
    const accepted = new Map<string, string>(); // phone → verification id
    let next = 0;
    let killed: Promise<unknown> | null = null;
    const client = async (): Promise<void> => {
      while (killed === null) {
        const phone = `+55119876${String(next++).padStart(5, '0')}`;
        try {
          const res = await sendCode(first, integration.testKey, phone);
          if (res.status === 201) accepted.set(phone, res.body.id as string);
          else throw new Error(`send: ${res.status} ${res.text}`);
        } catch (error) {
          if (killed === null) throw error;
          return; // a request cut off by the kill
        }
        if (accepted.size >= 60) killed ??= first.kill();
      }
    };
    await Promise.all(Array.from({ length: 10 }, client));
    await killed;
    expect(accepted.size).toBeGreaterThanOrEqual(60);

    const second = await startServer({ dataDir, adminToken });
    const started = Date.now();
    const deliveredTo = async (): Promise<SandboxMessage[]> => {
      const all: SandboxMessage[] = [];
      for (let cursor: string | null = null, first = true; first || cursor; first = false) {
        const res = await request(second, 'GET', `/v1/sandbox/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key: integration.testKey });
        all.push(...(res.body.data as SandboxMessage[]));
        cursor = res.body.next_cursor as string | null;
      }
      return all;
    };
    const messages = await pollUntil(deliveredTo, (m) => [...accepted.keys()].every((phone) => m.some((x) => x.to === phone)), 10_000);
    const missing = [...accepted.keys()].filter((phone) => !messages.some((m) => m.to === phone));
    expect(missing, `accepted before the kill but not delivered ${Date.now() - started} ms after the restart`).toEqual([]);

    // Never two messages for one verification (requests cut off by the kill may have committed too).
    const ids = messages.map((m) => m.verification_id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [phone, id] of accepted) expect(messages.find((m) => m.to === phone)?.verification_id).toBe(id);
  }, 60_000);
});
