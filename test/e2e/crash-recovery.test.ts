import { describe, expect, it } from 'vitest';
import { checkCode, createIntegration, pollUntil, sandboxMessages, sendCode, sleep, type SandboxMessage } from './client.js';
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
});
