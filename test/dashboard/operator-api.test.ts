/**
 * The operator routes the console reads through (docs/api.md "Operator API"): an integration's
 * verification log, a verification's events, its webhook, sandbox and balance, the live event
 * stream, signing keys and provider health — over the same services integrators use, against the
 * built server. Everything here is also reachable with the admin token (Bearer), as below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../e2e/client.js';
import { startServer, stopAllServers, type Server } from '../e2e/server.js';
import { storeEnv } from '../helpers/stores.js';

describe('operator routes behind the console', () => {
  let server: Server;
  let admin: (method: string, path: string, json?: unknown) => ReturnType<typeof request>;
  let id = '';
  let testKey = '';
  let liveKey = '';
  let dropStore: () => Promise<void> = async () => {};

  beforeAll(async () => {
    // SQLite by default; with OTPGATE_TEST_STORE=postgres a throwaway Postgres database (and Redis).
    const store = await storeEnv();
    dropStore = store.drop;
    server = await startServer({ env: { ...store.env, OTPGATE_DASHBOARD_LIVE_POLL_MS: '100', OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' } });
    admin = (method, path, json) => request(server, method, path, { bearer: server.adminToken!, ...(json === undefined ? {} : { json }) });
    const created = await admin('POST', '/admin/v1/integrations', { name: 'ops', trust_level: 'relaxed' });
    id = created.body.id as string;
    const keys = created.body.keys as { test: { key: string }; live: { key: string } };
    testKey = keys.test.key;
    liveKey = keys.live.key;
  }, 60_000);
  afterAll(async () => {
    await stopAllServers();
    await dropStore();
  });

  const send = (identifier: string, key = testKey) => request(server, 'POST', '/v1/verifications', { key, json: { identifier } });

  it('searches an integration’s verifications by identifier, id, status, channel and time, in cursor pages', async () => {
    const ids: string[] = [];
    for (const who of ['a@example.com', 'b@example.com', 'c@example.com', '+14155550100']) ids.push((await send(who)).body.id as string);
    const check = await request(server, 'POST', '/v1/verifications/check', { key: testKey, json: { verification_id: ids[3], code: '000000' } });
    expect(check.status).toBe(401); // wrong code: still pending
    const all = await admin('GET', `/admin/v1/integrations/${id}/verifications?mode=test`);
    expect((all.body.data as Array<{ id: string }>).map((v) => v.id)).toEqual([...ids].reverse());
    const page1 = await admin('GET', `/admin/v1/integrations/${id}/verifications?limit=3`);
    expect((page1.body.data as unknown[]).length).toBe(3);
    const page2 = await admin('GET', `/admin/v1/integrations/${id}/verifications?limit=3&cursor=${page1.body.next_cursor as string}`);
    expect((page2.body.data as Array<{ id: string }>).map((v) => v.id)).toEqual([ids[0]]);
    expect(page2.body.next_cursor).toBeNull();
    const byIdentifier = await admin('GET', `/admin/v1/integrations/${id}/verifications?identifier=${encodeURIComponent('B+tag@EXAMPLE.com')}`);
    expect((byIdentifier.body.data as Array<{ id: string }>).map((v) => v.id)).toEqual([ids[1]]);
    // The channel is the first one the send went to (auto → the policy's first: WhatsApp for a phone).
    const byPhone = await admin('GET', `/admin/v1/integrations/${id}/verifications?identifier=${encodeURIComponent('+1 (415) 555-0100')}&channel=whatsapp&status=pending`);
    expect((byPhone.body.data as Array<{ id: string; attempts: number }>).map((v) => [v.id, v.attempts])).toEqual([[ids[3], 1]]);
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?channel=email`)).body.data as unknown[]).length).toBe(3);
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?channel=sms`)).body.data as unknown[]).length).toBe(0);
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?id=${ids[2]}`)).body.data as unknown[]).length).toBe(1);
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?status=approved`)).body.data as unknown[]).length).toBe(0);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?from=${future}`)).body.data as unknown[]).length).toBe(0);
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?to=${future}`)).body.data as unknown[]).length).toBe(4);
    // Modes never mix: live mode has none of these.
    expect(((await admin('GET', `/admin/v1/integrations/${id}/verifications?mode=live`)).body.data as unknown[]).length).toBe(0);
    for (const bad of ['from=yesterday', 'identifier=not-an-identifier', 'cursor=xyz', 'status=done', 'mode=prod', 'id=abc', 'limit=0']) {
      const res = await admin('GET', `/admin/v1/integrations/${id}/verifications?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.type).toBe('validation-error');
    }
    expect((await admin('GET', '/admin/v1/integrations/int_missing/verifications')).status).toBe(404);
  });

  it('shows one verification as the integrator sees it, with the events recorded about it', async () => {
    const v = (await send('events@example.com')).body as { id: string };
    await expect.poll(async () => ((await admin('GET', `/admin/v1/integrations/${id}/verifications/${v.id}`)).body.events as Array<{ type: string }>).map((e) => e.type)).toEqual(['verification.created', 'verification.delivered']);
    const detail = await admin('GET', `/admin/v1/integrations/${id}/verifications/${v.id}`);
    const own = await request(server, 'GET', `/v1/verifications/${v.id}`, { key: testKey });
    const { events, ...verification } = detail.body;
    expect(verification).toEqual(own.body);
    expect(JSON.stringify(events)).not.toMatch(/code_hash|code_sealed/);
    expect((await admin('GET', `/admin/v1/integrations/${id}/verifications/${v.id}?mode=live`)).status).toBe(404);
  });

  it('streams an integration’s new events live (server-sent events), in its mode only', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/admin/v1/integrations/${id}/live?mode=test`, { headers: { authorization: `Bearer ${server.adminToken}` }, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const reader = res.body!.getReader();
    let text = '';
    await send('live-other@example.com', liveKey).catch(() => undefined); // live mode: never on the test stream
    const sent = (await send('live@example.com')).body as { id: string };
    const deadline = Date.now() + 10_000;
    while (!text.includes('event: verification.delivered') && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toContain('event: verification.created');
    expect(text).toContain(`"id":"${sent.id}"`);
    expect(text).not.toContain('live-other@example.com');
    expect((await fetch(`${server.url}/admin/v1/integrations/${id}/live`)).status).toBe(401);
  });

  it('reads and changes an integration’s webhook, deliveries, sandbox and balance as its keys would', async () => {
    expect((await admin('GET', `/admin/v1/integrations/${id}/webhook?mode=live`)).status).toBe(404);
    const set = await admin('PATCH', `/admin/v1/integrations/${id}/webhook?mode=live`, { url: 'http://127.0.0.1:9/hook', events: ['verification.created'] });
    expect(set.status).toBe(200);
    expect(set.body.secret).toMatch(/^whsec_/);
    const own = await request(server, 'GET', '/v1/webhook', { key: liveKey });
    expect(own.body.url).toBe('http://127.0.0.1:9/hook');
    expect((await request(server, 'GET', '/v1/webhook', { key: testKey })).status).toBe(404); // the test mode's endpoint is another
    expect((await admin('GET', `/admin/v1/integrations/${id}/webhook/deliveries?mode=live`)).body.data).toEqual([]);
    const retry = await admin('POST', `/admin/v1/integrations/${id}/webhook/deliveries/whd_missing/retry?mode=live`);
    expect(retry.status).toBe(404);
    const test = await admin('POST', `/admin/v1/integrations/${id}/webhook/test?mode=live`);
    expect(test.status).toBe(200);
    expect(test.body.delivered).toBe(false);
    expect((await admin('DELETE', `/admin/v1/integrations/${id}/webhook?mode=live`)).status).toBe(204);
    expect((await request(server, 'GET', '/v1/webhook', { key: liveKey })).status).toBe(404);

    const messages = await admin('GET', `/admin/v1/integrations/${id}/sandbox/messages?to=a@example.com`);
    expect(messages.body).toEqual((await request(server, 'GET', '/v1/sandbox/messages?to=a@example.com', { key: testKey })).body);
    expect((messages.body.data as unknown[]).length).toBe(1);
    const inbox = await request(server, 'POST', '/v1/sandbox/inboxes', { key: testKey, json: { kind: 'email' } });
    const inboxes = await admin('GET', `/admin/v1/integrations/${id}/sandbox/inboxes`);
    expect((inboxes.body.data as Array<{ id: string }>).map((i) => i.id)).toEqual([inbox.body.id]);
    expect((await admin('GET', `/admin/v1/integrations/${id}/sandbox/inboxes/${inbox.body.id as string}`)).body.address).toBe(inbox.body.address);

    await admin('POST', `/admin/v1/integrations/${id}/topups`, { amount: '3.5' });
    expect((await admin('GET', `/admin/v1/integrations/${id}/balance`)).body).toEqual((await request(server, 'GET', '/v1/balance', { key: testKey })).body);
    const ledger = await admin('GET', `/admin/v1/integrations/${id}/balance/transactions`);
    expect((ledger.body.data as Array<{ amount: string }>)[0]!.amount).toBe('3.5000');
  });

  it('lists and rotates signing keys (the JWKS follows) and reports provider health', async () => {
    const before = (await admin('GET', '/admin/v1/signing-keys')).body.data as Array<{ kid: string; status: string }>;
    expect(before.filter((k) => k.status === 'active').length).toBe(1);
    const rotated = await admin('POST', '/admin/v1/signing-keys/rotate');
    expect(rotated.status).toBe(201);
    const after = rotated.body.data as Array<{ kid: string; status: string }>;
    expect(after[0]).toMatchObject({ kid: rotated.body.kid, status: 'active' });
    expect(after.find((k) => k.kid === before[0]!.kid)?.status).toBe('retired');
    const jwks = (await request(server, 'GET', '/.well-known/jwks.json')).body.keys as Array<{ kid: string }>;
    expect(jwks.map((k) => k.kid)).toEqual(expect.arrayContaining([rotated.body.kid, before[0]!.kid]));
    const providers = await admin('GET', '/admin/v1/providers');
    expect(providers.status).toBe(200);
    expect(providers.body.data).toEqual([]); // no live provider configured here
  });
});
