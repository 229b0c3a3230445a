import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { TEST_STORE } from '../helpers/stores.js';
import { hooks, signatureHeaders, startReceiver, type Receiver } from './support.js';

/** GET|PATCH|DELETE /v1/webhook, the deliveries list, retry and the test event, through a real runtime. */
describe(`webhook routes (${TEST_STORE})`, () => {
  let rt: TestRuntime;
  let integration: TestIntegration;
  let receiver: Receiver;

  beforeAll(async () => {
    rt = await startRuntime({ env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' } });
    integration = await createIntegration(rt.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await rt.dispose();
  });

  it('answers 404 not-found before a webhook is configured, as problem+json', async () => {
    const res = await hooks(rt.app, integration.testKey).get();
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'not-found', status: 404 });
  });

  it('refuses to create a webhook without a url (400 validation-error)', async () => {
    const res = await hooks(rt.app, integration.testKey).patch({ events: ['*'] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ type: 'validation-error', errors: { url: ['required'] } });
    expect((await hooks(rt.app, integration.testKey).get()).statusCode).toBe(404);
  });

  it('creates the webhook, shows a generated whsec_ secret once, and never again', async () => {
    const h = hooks(rt.app, integration.testKey);
    const res = await h.patch({ url: receiver.url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toMatchObject({ url: receiver.url, events: ['*'], is_active: true, disabled_reason: null, previous_secret_expires_at: null });
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(body.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);

    const got = await h.get();
    expect(got.statusCode).toBe(200);
    expect(got.headers['cache-control']).toBe('no-store');
    expect(got.json()).not.toHaveProperty('secret');
    expect(got.body).not.toContain(body.secret.slice(6));
    expect(got.json()).toMatchObject({ url: receiver.url, events: ['*'], is_active: true });

    // A PATCH that does not set the secret does not show it.
    const paused = await h.patch({ is_active: false });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).not.toHaveProperty('secret');
    expect(paused.json()).toMatchObject({ is_active: false, url: receiver.url });
    expect((await h.patch({ is_active: true })).json()).toMatchObject({ is_active: true });
  });

  it('seals the secret at rest', async () => {
    const h = hooks(rt.app, integration.testKey);
    const secret = (await h.patch({ secret: 'my-own-secret-0123456789' })).json().secret as string;
    expect(secret).toBe('my-own-secret-0123456789');
    const row = await rt.store.db.selectFrom('webhook_endpoints').selectAll().where('integration_id', '=', integration.id).where('mode', '=', 'test').executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain('my-own-secret');
    expect(row.secret_sealed).toMatch(/^v1\./);
  });

  it('generates a secret when the given one is shorter than 16 characters, and keeps the old one signing for 24 h', async () => {
    const res = await hooks(rt.app, integration.testKey).patch({ secret: 'short-secret' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.secret).toMatch(/^whsec_/);
    expect(Date.parse(body.previous_secret_expires_at) - Date.parse(body.updated_at)).toBe(24 * 3600 * 1000);
  });

  it('keeps the chosen events, and refuses unknown ones and unknown fields (400) without changing anything', async () => {
    const h = hooks(rt.app, integration.testKey);
    expect((await h.patch({ events: ['verification.approved', 'identity.merged', 'verification.approved'] })).json().events).toEqual(['verification.approved', 'identity.merged']);
    for (const bad of [{ events: ['verification.nope'] }, { events: [] }, { events: 'verification.approved' }, { colour: 'red' }, { is_active: 'yes' }, { url: 42 }, { secret: 'has spaces in the secret' }]) {
      const res = await h.patch(bad);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(res.json().type).toBe('validation-error');
    }
    expect((await h.get()).json().events).toEqual(['verification.approved', 'identity.merged']);
    expect((await h.patch({ events: ['*'] })).json().events).toEqual(['*']);
  });

  it('refuses an unparsable or non-http URL with 422 invalid-webhook-url and a detail', async () => {
    const h = hooks(rt.app, integration.testKey);
    for (const url of ['not a url', 'ftp://example.com/hook', 'https://user:pass@example.com/hook']) {
      const res = await h.patch({ url });
      expect(res.statusCode, url).toBe(422);
      expect(res.json()).toMatchObject({ type: 'invalid-webhook-url' });
      expect(res.json().detail.length).toBeGreaterThan(10);
    }
    expect((await h.get()).json().url).toBe(receiver.url);
  });

  it('keeps test and live apart: a live key neither sees nor changes the test webhook', async () => {
    const live = hooks(rt.app, integration.liveKey);
    expect((await live.get()).statusCode).toBe(404);
    expect((await live.delete()).statusCode).toBe(404);
    expect((await live.deliveries()).json()).toEqual({ data: [], next_cursor: null });
    const liveUrl = receiver.url.replace('/hook', '/live');
    expect((await live.patch({ url: liveUrl })).statusCode).toBe(200);
    expect((await hooks(rt.app, integration.testKey).get()).json().url).toBe(receiver.url);
    expect((await live.get()).json().url).toBe(liveUrl);
    expect((await live.delete()).statusCode).toBe(204);
    expect((await hooks(rt.app, integration.testKey).get()).statusCode).toBe(200);
  });

  it('lists deliveries with the API list conventions, and refuses bad list parameters with 400', async () => {
    const h = hooks(rt.app, integration.testKey);
    const res = await h.deliveries('?limit=5');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: [], next_cursor: null });
    for (const q of ['?limit=0', '?limit=101', '?cursor=nope', '?limit=abc', '?colour=red']) {
      const bad = await h.deliveries(q);
      expect(bad.statusCode, q).toBe(400);
      expect(bad.json().type).toBe('validation-error');
    }
  });

  it('refuses fields in the bodies of retry and test (400), and takes them bodiless or with {}', async () => {
    for (const url of ['/v1/webhook/test', '/v1/webhook/deliveries/whd_x/retry']) {
      const res = await rt.app.inject({ method: 'POST', url, headers: { 'x-api-key': integration.testKey }, payload: { force: true } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().type).toBe('validation-error');
    }
    const empty = await rt.app.inject({ method: 'POST', url: '/v1/webhook/deliveries/whd_x/retry', headers: { 'x-api-key': integration.testKey }, payload: {} });
    expect(empty.statusCode).toBe(404);
  });

  it('answers 404 for a retry of an unknown delivery, 400 for a malformed id', async () => {
    const h = hooks(rt.app, integration.testKey);
    expect((await h.retry('whd_doesnotexist')).json()).toMatchObject({ status: 404, type: 'not-found' });
    expect((await h.retry('evt_x')).statusCode).toBe(400);
  });

  it('sends a signed webhook.test event now and answers with the receiver status', async () => {
    const h = hooks(rt.app, integration.testKey);
    const secret = (await h.patch({ secret: 'whsec_' + Buffer.alloc(32, 7).toString('base64') })).json().secret as string;
    receiver.received.length = 0;
    receiver.respond = (_req, res) => res.writeHead(202).end('accepted');
    const res = await h.test();
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ delivered: true, status: 202, response_body: 'accepted', error: null });
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    const event = new Webhook(secret).verify(got.body, signatureHeaders(got)) as { id: string; type: string; created_at: string; data: unknown };
    expect(event).toMatchObject({ id: res.json().event_id, type: 'webhook.test' });
    expect(got.headers['webhook-id']).toBe(res.json().event_id);

    receiver.respond = (_req, res2) => res2.writeHead(500).end('boom');
    expect((await h.test()).json()).toMatchObject({ delivered: false, status: 500, response_body: 'boom' });
    receiver.respond = (_req, res2) => res2.writeHead(200).end('ok');
  });

  it('removes the webhook (204), then 404 for it and for the test event', async () => {
    const h = hooks(rt.app, integration.testKey);
    const res = await h.delete();
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await h.get()).statusCode).toBe(404);
    expect((await h.delete()).statusCode).toBe(404);
    expect((await h.test()).statusCode).toBe(404);
  });

  it('answers every one of simultaneous first PATCHes (no 500) and keeps one endpoint', async () => {
    const fresh = await createIntegration(rt.app);
    const h = hooks(rt.app, fresh.liveKey);
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => h.patch({ url: `${receiver.url}?n=${i}` })));
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    const rows = await rt.store.db.selectFrom('webhook_endpoints').select('url').where('integration_id', '=', fresh.id).execute();
    expect(rows).toHaveLength(1);
    expect((await h.get()).json().url).toBe(rows[0]!.url);
  });

  it('refuses a request without a valid key (401)', async () => {
    const res = await hooks(rt.app, 'otpg_test_' + 'x'.repeat(40)).get();
    expect(res.statusCode).toBe(401);
    expect(res.json().type).toBe('invalid-api-key');
  });
});
