import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/domain/clock.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/webhooks/event-types.js';
import { ADMIN_TOKEN, api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { resettableClock } from '../helpers/clock.js';
import { TEST_STORE } from '../helpers/stores.js';
import { phone } from '../routes/support.js';
import { emitEvent, hooks, signatureHeaders, startReceiver, type Receiver } from './support.js';

interface EventBody {
  id: string;
  type: string;
  created_at: string;
  data: Record<string, unknown>;
}

const SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const SECOND_SECRET = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

/** Signed events from the events table to a real receiver on 127.0.0.1; retries on an injected clock. */
describe(`webhook delivery (${TEST_STORE})`, () => {
  let rt: TestRuntime;
  let clock: ManualClock;
  let receiver: Receiver;
  let integration: TestIntegration;
  const scope = () => ({ integrationId: integration.id, mode: 'test' as const });

  // Each test moves its own clock (fresh in beforeEach, at the wall clock: the library's verify()
  // refuses timestamps more than 5 minutes off); each has its own integration and receiver.
  const time = resettableClock(Date.now());
  beforeAll(async () => {
    rt = await startRuntime({ clock: time.clock, env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' } });
  });
  afterAll(async () => {
    await rt.dispose();
  });
  // Each test: a new integration and a new receiver (what earlier
  // tests left pending goes to their closed receivers).
  beforeEach(async () => {
    clock = time.fresh(Date.now());
    integration = await createIntegration(rt.app);
    receiver = await startReceiver();
    const res = await hooks(rt.app, integration.testKey).patch({ url: receiver.url, secret: SECRET });
    expect(res.statusCode).toBe(200);
  });
  afterEach(async () => {
    await receiver.close();
  });

  const deliveries = async () => (await hooks(rt.app, integration.testKey).deliveries()).json().data as Record<string, unknown>[];

  it('sends every event type, signed so that the standardwebhooks library verifies it, with body {id, type, created_at, data}', async () => {
    const ids: string[] = [];
    for (const type of WEBHOOK_EVENT_TYPES) ids.push(await emitEvent(rt, scope(), type, { object: type, n: ids.length }));
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(WEBHOOK_EVENT_TYPES.length);
    const wh = new Webhook(SECRET);
    const seen = receiver.received.map((r) => {
      const event = wh.verify(r.body, signatureHeaders(r)) as EventBody;
      expect(r.headers['webhook-id']).toBe(event.id);
      expect(r.headers['content-type']).toBe('application/json');
      expect(Object.keys(event).sort()).toEqual(['created_at', 'data', 'id', 'type']);
      expect(event.created_at).toBe(new Date(clock.now()).toISOString());
      expect(event.data).toEqual({ object: event.type, n: ids.indexOf(event.id) });
      return event.type;
    });
    expect(seen.sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    // A tampered body does not verify.
    const first = receiver.received[0]!;
    expect(() => wh.verify(first.body.replace('"data"', '"dat"'), signatureHeaders(first))).toThrow();
    const list = await deliveries();
    expect(list).toHaveLength(WEBHOOK_EVENT_TYPES.length);
    expect(list.every((d) => d.status === 'succeeded' && d.attempts === 1 && d.response_status === 200 && d.response_body === 'ok')).toBe(true);
  });

  it('announces a real send: a test-mode code captured by the sandbox gives verification.delivered', async () => {
    const to = phone();
    const sent = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to });
    expect(sent.statusCode).toBe(201);
    await rt.worker.drain();
    await rt.webhooks.drain();
    // verification.delivered (and verification.created, where the services record it), each verified.
    const events = receiver.received.map((r) => new Webhook(SECRET).verify(r.body, signatureHeaders(r)) as EventBody);
    expect(events.map((e) => e.type)).toContain('verification.delivered');
    for (const [i, event] of events.entries()) {
      expect(JSON.stringify(event.data)).toContain(sent.json().id);
      expect(receiver.received[i]!.body).not.toMatch(/"code"\s*:\s*"\d+"/);
    }
  });

  it('announces real sandbox and balance changes: sandbox.message_received (no message text) and balance.low, each verified', async () => {
    // Billing on: a test-mode inbox rental (inbox_email, 0.0100 by default) takes 0.0150 under the 0.0100 threshold.
    const patched = await rt.app.inject({
      method: 'PATCH',
      url: `/admin/v1/integrations/${integration.id}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { policy: { billing: { enabled: true, low_balance_threshold: '0.0100' } } },
    });
    expect(patched.statusCode).toBe(200);
    const topup = await rt.app.inject({ method: 'POST', url: `/admin/v1/integrations/${integration.id}/topups`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { amount: '0.0150' } });
    expect(topup.statusCode).toBe(201);
    const key = api(rt.app, integration.testKey);
    const inbox = (await key.post('/v1/sandbox/inboxes', { kind: 'email' })).json() as { id: string; address: string };
    // A test-mode send to the inbox's address: captured, and landed in the inbox.
    expect((await key.post('/v1/verifications', { identifier: inbox.address, channel: 'email' })).statusCode).toBe(201);
    await rt.worker.drain();
    await rt.webhooks.drain();

    const events = receiver.received.map((r) => new Webhook(SECRET).verify(r.body, signatureHeaders(r)) as EventBody);
    const low = events.filter((e) => e.type === 'balance.low');
    expect(low).toHaveLength(1);
    expect(low[0]!.data).toMatchObject({ balance: '0.0050', low_balance_threshold: '0.0100' });
    const landed = events.filter((e) => e.type === 'sandbox.message_received');
    expect(landed).toHaveLength(1);
    expect(landed[0]!.data).toMatchObject({ inbox_id: inbox.id, otp_count: 1 });
    expect(landed[0]!.data.otp_code).toMatch(/^\d{4,10}$/);
    const raw = receiver.received.find((r) => r.headers['webhook-id'] === landed[0]!.id)!.body;
    expect(raw).not.toMatch(/"(text|body|subject)"/);
  });

  it('sends every event of one claim once; a delivery whose event is gone fails without a request', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push(await emitEvent(rt, scope(), 'verification.created', { object: 'ordered', n }));
    const gone = await emitEvent(rt, scope(), 'verification.created', { object: 'gone' });
    await rt.store.db.deleteFrom('events').where('id', '=', gone).execute();
    await rt.webhooks.drain();
    expect(receiver.received.map((r) => r.headers['webhook-id']).sort()).toEqual([...ids].sort()); // attempts run side by side: any order
    const failed = (await deliveries()).find((d) => d.event_id === gone || (d.event as { id?: string } | undefined)?.id === gone);
    expect(failed).toMatchObject({ status: 'failed' });
  });

  it('runs more attempts at once than an AbortSignal allows listeners by default, without a leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const ids: string[] = [];
      for (let n = 0; n < 30; n++) ids.push(await emitEvent(rt, scope(), 'verification.created', { object: 'many', n }));
      await rt.webhooks.drain();
      expect(receiver.received.map((r) => r.headers['webhook-id']).sort()).toEqual([...ids].sort());
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('sends only the subscribed types; others get no delivery at all', async () => {
    await hooks(rt.app, integration.testKey).patch({ events: ['identity.merged'] });
    await emitEvent(rt, scope(), 'verification.delivered');
    const merged = await emitEvent(rt, scope(), 'identity.merged');
    await rt.webhooks.drain();
    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([merged]);
    expect((await deliveries()).map((d) => d.event_id)).toEqual([merged]);
  });

  it('retries a 500 after about 5 s with the same webhook-id, and shows each attempt in the list', async () => {
    let calls = 0;
    receiver.respond = (_req, res) => (++calls === 1 ? res.writeHead(500).end('x'.repeat(5000)) : res.writeHead(200).end('fine'));
    const id = await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    let [d] = await deliveries();
    expect(d).toMatchObject({ event_id: id, event_type: 'verification.approved', status: 'pending', attempts: 1, response_status: 500 });
    expect((d!.response_body as string).length).toBe(1024);
    const next = Date.parse(d!.next_attempt_at as string) - clock.now();
    expect(next).toBeGreaterThanOrEqual(4_500);
    expect(next).toBeLessThanOrEqual(5_500);

    clock.advance(4_400);
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(1); // not due yet

    clock.advance(1_200);
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([id, id]);
    new Webhook(SECRET).verify(receiver.received[1]!.body, signatureHeaders(receiver.received[1]!));
    [d] = await deliveries();
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2, response_status: 200, response_body: 'fine', next_attempt_at: null, error: null });

    const metrics = await rt.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(metrics.body).toMatch(/otpgate_webhook_attempts_total\{result="retry"\} [1-9]/);
    expect(metrics.body).toMatch(/otpgate_webhook_attempts_total\{result="succeeded"\} [1-9]/);
  });

  it("honours the receiver's Retry-After when it asks for longer than the schedule", async () => {
    receiver.respond = (_req, res) => res.writeHead(503, { 'retry-after': '120' }).end();
    await emitEvent(rt, scope(), 'verification.failed');
    await rt.webhooks.drain();
    const [d] = await deliveries();
    expect(Date.parse(d!.next_attempt_at as string) - clock.now()).toBe(120_000);
  });

  it('follows the schedule (5 s … 24 h) for ten attempts, then fails; a manual retry sends it again', async () => {
    receiver.respond = (_req, res) => res.writeHead(500).end();
    const id = await emitEvent(rt, scope(), 'verification.expired');
    await rt.webhooks.drain();
    const steps = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000];
    for (const step of steps) {
      const [d] = await deliveries();
      const wait = Date.parse(d!.next_attempt_at as string) - clock.now();
      expect(wait).toBeGreaterThanOrEqual(step * 0.9);
      expect(wait).toBeLessThanOrEqual(step * 1.1);
      clock.advance(wait);
      await rt.webhooks.drain();
    }
    let [d] = await deliveries();
    expect(d).toMatchObject({ status: 'failed', attempts: 10, next_attempt_at: null, response_status: 500 });
    expect(receiver.received).toHaveLength(10);
    clock.advance(7 * 86_400_000);
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(10);

    receiver.respond = (_req, res) => res.writeHead(204).end();
    const retried = await hooks(rt.app, integration.testKey).retry(d!.id as string);
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toMatchObject({ id: d!.id, status: 'pending' });
    await rt.webhooks.drain();
    [d] = await deliveries();
    expect(d).toMatchObject({ status: 'succeeded', attempts: 11, response_status: 204 });
    expect(receiver.received.at(-1)!.headers['webhook-id']).toBe(id);
  }, 30_000);

  it('holds what is raised while paused and sends it on resume', async () => {
    const h = hooks(rt.app, integration.testKey);
    await h.patch({ is_active: false });
    const a = await emitEvent(rt, scope(), 'verification.created');
    const b = await emitEvent(rt, scope(), 'verification.canceled');
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(0);
    expect((await deliveries()).map((d) => d.status)).toEqual(['held', 'held']);
    expect((await h.retry((await deliveries())[0]!.id as string)).json()).toMatchObject({ status: 409, type: 'invalid-state' });

    await h.patch({ is_active: true });
    await rt.webhooks.drain();
    expect(receiver.received.map((r) => r.headers['webhook-id']).sort()).toEqual([a, b].sort());
    expect((await deliveries()).map((d) => d.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('disables the endpoint on 410 (GET /v1/webhook says so), holds what follows, and resumes on is_active: true', async () => {
    const h = hooks(rt.app, integration.testKey);
    receiver.respond = (_req, res) => res.writeHead(410).end('gone');
    const first = await emitEvent(rt, scope(), 'identifier.locked');
    await rt.webhooks.drain();
    const got = (await h.get()).json();
    expect(got.is_active).toBe(false);
    expect(got.disabled_reason).toMatch(/410/);
    const second = await emitEvent(rt, scope(), 'balance.low');
    clock.advance(86_400_000);
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(1);
    expect((await deliveries()).map((d) => d.status)).toEqual(['held', 'held']);

    receiver.respond = (_req, res) => res.writeHead(200).end();
    const resumed = (await h.patch({ is_active: true })).json();
    expect(resumed).toMatchObject({ is_active: true, disabled_reason: null });
    await rt.webhooks.drain();
    expect(receiver.received.slice(1).map((r) => r.headers['webhook-id']).sort()).toEqual([first, second].sort());
  });

  it('signs with both secrets for 24 h after a rotation (each verifies), then with the new one only', async () => {
    const h = hooks(rt.app, integration.testKey);
    expect((await h.patch({ secret: SECOND_SECRET })).json().secret).toBe(SECOND_SECRET);
    await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    const during = receiver.received[0]!;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    new Webhook(SECOND_SECRET).verify(during.body, signatureHeaders(during));
    new Webhook(SECRET).verify(during.body, signatureHeaders(during));

    clock.advance(24 * 3_600_000 - 60_000);
    await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    expect(String(receiver.received[1]!.headers['webhook-signature']).split(' ')).toHaveLength(2);

    clock.advance(120_000); // past the overlap
    await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    const after = receiver.received[2]!;
    const signatures = String(after.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(1);
    // The timestamp is the injected clock's (a day ahead): verified by recomputing with the library.
    const at = new Date(Number(after.headers['webhook-timestamp']) * 1000);
    expect(signatures[0]).toBe(new Webhook(SECOND_SECRET).sign(String(after.headers['webhook-id']), at, after.body));
    expect(signatures[0]).not.toBe(new Webhook(SECRET).sign(String(after.headers['webhook-id']), at, after.body));
    expect((await h.get()).json().previous_secret_expires_at).toBeNull();
  });

  it("signs with an integrator's own non-whsec secret as raw bytes", async () => {
    const own = 'my-own-webhook-secret-0123456789';
    await hooks(rt.app, integration.testKey).patch({ secret: own });
    clock.advance(25 * 3_600_000); // only the new secret signs
    await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    const r = receiver.received[0]!;
    const at = new Date(Number(r.headers['webhook-timestamp']) * 1000);
    expect(String(r.headers['webhook-signature'])).toBe(new Webhook(Buffer.from(own), { format: 'raw' }).sign(String(r.headers['webhook-id']), at, r.body));
  });

  it('does not follow a redirect (to a private address or anywhere): the attempt fails with the 3xx', async () => {
    let internalHits = 0;
    const internal = createServer((_req, res) => {
      internalHits += 1;
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    const internalUrl = `http://127.0.0.1:${(internal.address() as AddressInfo).port}/latest/meta-data`;
    receiver.respond = (_req, res) => res.writeHead(302, { location: internalUrl }).end();
    await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    await hooks(rt.app, integration.testKey).test();
    const [d] = await deliveries();
    expect(d).toMatchObject({ status: 'pending', attempts: 1, response_status: 302 });
    expect(d!.error).toMatch(/redirects are not followed/);
    expect(receiver.received).toHaveLength(2);
    expect(internalHits).toBe(0);
    await new Promise<void>((resolve) => internal.close(() => resolve()));
  });

  it('removes pending deliveries with the endpoint', async () => {
    receiver.respond = (_req, res) => res.writeHead(500).end();
    await emitEvent(rt, scope(), 'verification.approved');
    await rt.webhooks.drain();
    expect(await deliveries()).toHaveLength(1);
    expect((await hooks(rt.app, integration.testKey).delete()).statusCode).toBe(204);
    clock.advance(10_000);
    await rt.webhooks.drain();
    expect(receiver.received).toHaveLength(1);
    expect((await hooks(rt.app, integration.testKey).deliveries()).json().data).toEqual([]);
  });

  it('pages the deliveries list newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await emitEvent(rt, scope(), 'verification.created'));
      clock.advance(1);
    }
    const h = hooks(rt.app, integration.testKey);
    const first = (await h.deliveries('?limit=2')).json();
    expect(first.data.map((d: { event_id: string }) => d.event_id)).toEqual([ids[4], ids[3]]);
    const second = (await h.deliveries(`?limit=2&cursor=${first.next_cursor}`)).json();
    const third = (await h.deliveries(`?limit=2&cursor=${second.next_cursor}`)).json();
    expect([...second.data, ...third.data].map((d: { event_id: string }) => d.event_id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(third.next_cursor).toBeNull();
  });
});

describe(`webhook delivery isolation (${TEST_STORE})`, () => {
  let rt: TestRuntime;
  let hanging: Server;
  let hangingUrl: string;
  /** Requests the hanging receiver got (none is answered; the test ends before the 3 s timeout). */
  let hung = 0;
  let fast: Receiver;

  beforeAll(async () => {
    hanging = createServer(() => {
      hung += 1; // never answers
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
    fast = await startReceiver();
    rt = await startRuntime({ worker: true, env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1', OTPGATE_WEBHOOK_TIMEOUT_MS: '3000', OTPGATE_WEBHOOK_CONCURRENCY_PER_ENDPOINT: '2' } });
  });
  afterAll(async () => {
    await rt.dispose();
    hanging.closeAllConnections();
    await new Promise<void>((resolve) => hanging.close(() => resolve()));
    await fast.close();
  });

  it("a receiver that hangs delays neither another integration's webhooks nor sends and checks, and holds at most its cap of connections", async () => {
    const slow = await createIntegration(rt.app);
    const other = await createIntegration(rt.app);
    const third = await createIntegration(rt.app);
    await hooks(rt.app, slow.testKey).patch({ url: hangingUrl });
    await hooks(rt.app, other.testKey).patch({ url: fast.url });
    for (let i = 0; i < 20; i++) await emitEvent(rt, { integrationId: slow.id, mode: 'test' }, 'verification.created');
    await new Promise((resolve) => setTimeout(resolve, 200)); // the hanging receiver now holds its attempts

    const started = Date.now();
    const id = await emitEvent(rt, { integrationId: other.id, mode: 'test' }, 'verification.created');
    const [got] = await fast.waitFor(1, 2_500);
    expect(got!.headers['webhook-id']).toBe(id);
    expect(Date.now() - started).toBeLessThan(2_000);

    // A send and its check on a third integration go through while the receiver still hangs.
    const to = phone();
    const sendStarted = Date.now();
    expect((await api(rt.app, third.testKey).post('/v1/verifications', { identifier: to })).statusCode).toBe(201);
    let code: string | undefined;
    for (let i = 0; i < 40 && !code; i++) {
      const messages = (await api(rt.app, third.testKey).get(`/v1/sandbox/messages?to=${encodeURIComponent(to)}`)).json().data as { code: string }[];
      code = messages[0]?.code;
      if (!code) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(code).toBeDefined();
    expect((await api(rt.app, third.testKey).post('/v1/verifications/check', { identifier: to, code })).statusCode).toBe(200);
    expect(Date.now() - sendStarted).toBeLessThan(2_000);

    // 20 events are due for the hanging receiver; it holds only its cap of attempts at a time.
    expect(hung).toBe(2);
  }, 20_000);
});
