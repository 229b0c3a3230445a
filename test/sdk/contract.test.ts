import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtpgateClient, verifyWebhook, type Result } from '../../packages/client/src/index.js';
import { createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { phone } from '../routes/support.js';

/**
 * Every SDK method, run against a real otpgate on a real port (no stub): the answers are the
 * server's. The SDK ships no method for an endpoint the server lacks (checked below).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');


let rt: TestRuntime;
let baseUrl: string;
let integration: TestIntegration;
let client: OtpgateClient;
/** `resource.method` of every SDK method this suite called. */
const called = new Set<string>();

/** Wraps the client's methods (and nested resources) to record which ones the suite calls. */
function tracked<T extends object>(target: T, prefix = ''): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof prop !== 'string') return value;
      const name = prefix + prop;
      if (typeof value === 'function') {
        return (...args: unknown[]) => {
          called.add(name);
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      }
      if (value && typeof value === 'object' && !(value instanceof URL)) return tracked(value, `${name}.`);
      return value;
    },
  });
}

/** Every public method of the client: `authorize`, `verifications.create`, `sandbox.inboxes.get`, … */
function sdkMethods(target: object, prefix = '', seen = new Set<object>()): string[] {
  if (seen.has(target)) return [];
  seen.add(target);
  const names: string[] = [];
  const proto = Object.getPrototypeOf(target) as object;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key !== 'constructor' && typeof (proto as Record<string, unknown>)[key] === 'function') names.push(prefix + key);
  }
  for (const [key, value] of Object.entries(target)) {
    if (key === 'transport' || !value || typeof value !== 'object' || value instanceof URL) continue;
    names.push(...sdkMethods(value as object, `${prefix}${key}.`, seen));
  }
  return names;
}

function data<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`expected success, got ${result.status} ${JSON.stringify(result.problem)}`);
  return result.data;
}

function problemOf<T>(result: Result<T>, status: number, type: string): Record<string, unknown> {
  if (result.ok) throw new Error(`expected ${status} ${type}, got ${result.status} ${JSON.stringify(result.data)}`);
  expect(result.status).toBe(status);
  expect(result.problem.type).toBe(type);
  expect(result.problem.status).toBe(status);
  return result.problem as unknown as Record<string, unknown>;
}

/** The code of the latest captured message for `to`, read through the SDK after the worker delivered it. */
async function codeFor(to: string): Promise<string> {
  await rt.worker.drain();
  const page = data(await client.sandbox.messages({ to, limit: 1 }));
  const code = page.data[0]?.code;
  if (!code) throw new Error(`no sandbox code for ${to}`);
  return code;
}

const wrong = (code: string): string => code.replace(/^./, (d) => String((Number(d) + 1) % 10));

beforeAll(async () => {
  // Webhooks to a receiver on 127.0.0.1 (the SSRF guard is lifted as in development).
  rt = await startRuntime({ env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' } });
  baseUrl = await rt.app.listen({ host: '127.0.0.1', port: 0 });
  integration = await createIntegration(rt.app, {
    name: 'SDK contract',
    policy: { access_token: { enabled: true, scopes: ['coupons:read'] }, limits: { resend_cooldown_s: 0 } },
  });
  client = tracked(new OtpgateClient({ apiKey: integration.testKey, baseUrl }));
});

afterAll(async () => {
  await rt?.dispose();
});

describe('SDK against a real server', () => {
  it('policy.get answers the effective policy with the live fields', async () => {
    const res = await client.policy.get();
    const policy = data(res);
    expect(res.status).toBe(200);
    expect(policy.trust_level).toBe('strict');
    expect(policy.require_otp_for).toMatchObject({ enrollment: true, redemption: true, coupon_usage: true });
    expect(policy.code.length).toBe(6);
    expect(policy.limits.resend_cooldown_s).toBe(0);
    expect(policy.access_token).toMatchObject({ enabled: true, scopes: ['coupons:read'] });
    expect(policy.channels).toEqual(['whatsapp', 'sms', 'email']);
    expect(policy.channels_available).toEqual(policy.channels); // test mode: the sandbox carries every channel
    expect(policy.fraud_guard).toBe('monitor');
    expect(policy.delivery.fallback_after_s).toBeNull();
    expect(policy.otp_enabled).toBe(true);
  });

  it('verifications: create, get, resend, check a wrong then the right code; access token, sessions, authorize, introspection, revocation', async () => {
    const identifier = phone();
    const created = await client.verifications.create({ identifier: ` ${identifier.slice(0, 3)} ${identifier.slice(3)} `, action: 'redemption' });
    const sent = data(created);
    expect(created.status).toBe(201);
    expect(created.requestId).toMatch(/.+/);
    expect(sent).toMatchObject({ status: 'pending', identifier, channel: 'whatsapp', action: 'redemption', code_length: 6, failure_reason: null });
    expect(sent.id).toMatch(/^ver_/);
    expect(sent.deliveries).toHaveLength(1);
    expect(sent.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'queued' });

    const code = await codeFor(identifier);
    expect(code).toMatch(/^\d{6}$/);

    const read = data(await client.verifications.get(sent.id));
    expect(read).toMatchObject({ id: sent.id, status: 'pending', attempts: 0, sends: 1 });
    expect(read.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'delivered', provider: 'sandbox' });
    expect(read.deliveries[0]?.delivered_at).toEqual(expect.any(String));

    const resent = data(await client.verifications.resend(sent.id));
    expect(resent).toMatchObject({ id: sent.id, status: 'pending', sends: 2 });
    expect(await codeFor(identifier)).toBe(code); // the same code again

    const bad = problemOf(await client.verifications.check({ identifier, code: wrong(code) }), 401, 'invalid-code');
    expect(bad.attempts_remaining).toBe(4);

    const checked = data(await client.verifications.check({ identifier, code }));
    expect(checked).toMatchObject({ status: 'approved', verification_id: sent.id, identifier, action: 'redemption', identity: null, token_type: 'Bearer', scope: 'redemption coupons:read' });
    expect(checked.otp_session).toMatch(/^otps_/);
    expect(checked.expires_in).toBe(7200);
    const accessToken = checked.access_token ?? '';
    expect(accessToken.split('.')).toHaveLength(3);

    // A code is accepted once.
    problemOf(await client.verifications.check({ identifier, code }), 404, 'not-found');
    expect(data(await client.verifications.get(sent.id))).toMatchObject({ status: 'approved', attempts: 1 });

    // The JWKS publishes the key that signed the access token.
    const header = JSON.parse(Buffer.from(accessToken.split('.')[0] ?? '', 'base64url').toString()) as { alg: string; kid: string };
    expect(header.alg).toBe('EdDSA');
    const jwks = data(await client.jwks());
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);

    // The OTP gate.
    const session = checked.otp_session;
    const ungated = data(await client.authorize('sign_in'));
    expect(ungated).toEqual({ allowed: true, otp_required: false });
    problemOf(await client.authorize('redemption'), 403, 'otp-required');
    const allowed = data(await client.authorize('coupon_usage', { session, identifier }));
    expect(allowed).toMatchObject({ allowed: true, otp_required: true, session: { identifier, identity: null } });
    problemOf(await client.authorize('redemption', { session, identifier: phone() }), 403, 'otp-required');

    const current = data(await client.sessions.current(session));
    expect(current).toMatchObject({ identifier, action: 'redemption', verification_id: sent.id, identity: null });
    expect(current.id).toMatch(/^ses_/);
    expect(current.expires_at).toBe(checked.session_expires_at);

    const introspected = data(await client.tokens.introspect(accessToken));
    expect(introspected).toMatchObject({ active: true, scope: 'redemption coupons:read', aud: `${integration.id}:test`, mode: 'test', client_id: integration.id });

    // Revocation ends the session and its access token.
    expect(data(await client.sessions.revoke(session))).toEqual({ id: current.id, revoked: true });
    problemOf(await client.sessions.current(session), 403, 'otp-required');
    problemOf(await client.authorize('redemption', { session, identifier }), 403, 'otp-required');
    expect(data(await client.tokens.introspect(accessToken))).toEqual({ active: false });
  });

  it('verifications: check by verification_id, cancel, invalid-state, resend of a canceled one, validation errors', async () => {
    const identifier = phone();
    const first = data(await client.verifications.create({ identifier }));
    expect(first.action).toBe('sign_in');
    const second = data(await client.verifications.create({ identifier, channel: 'sms' }));
    expect(second.channel).toBe('sms');
    expect(data(await client.verifications.get(first.id))).toMatchObject({ status: 'canceled', failure_reason: 'superseded' });

    const canceled = data(await client.verifications.cancel(second.id));
    expect(canceled).toMatchObject({ id: second.id, status: 'canceled', failure_reason: 'canceled' });
    problemOf(await client.verifications.cancel(second.id), 409, 'invalid-state');
    problemOf(await client.verifications.resend(second.id), 409, 'invalid-state');
    problemOf(await client.verifications.get('ver_doesnotexist0000'), 404, 'not-found');

    const third = data(await client.verifications.create({ identifier: 'Ana.Contract@Example.COM', channel: 'email' }));
    expect(third).toMatchObject({ identifier: 'Ana.Contract@example.com', channel: 'email', identifier_type: 'email' });
    const code = await codeFor('Ana.Contract@example.com');
    const approved = data(await client.verifications.check({ verification_id: third.id, code }));
    expect(approved).toMatchObject({ status: 'approved', verification_id: third.id });

    const invalid = problemOf(await client.verifications.create({ identifier: 'not an identifier' }), 400, 'validation-error');
    expect(invalid.errors).toEqual(expect.any(Object));
  });

  it('verifications.create with an Idempotency-Key replays the first answer', async () => {
    const identifier = phone();
    const idempotencyKey = `contract-${identifier}`;
    const first = data(await client.verifications.create({ identifier }, { idempotencyKey }));
    const again = await client.verifications.create({ identifier }, { idempotencyKey });
    expect(data(again).id).toBe(first.id);
    problemOf(await client.verifications.create({ identifier, action: 'redemption' }, { idempotencyKey }), 422, 'idempotency-key-reused');
  });

  it('identities: create, get, search, update, conflict, not-found; an approved verification verifies the email', async () => {
    const reference = `contract-${Date.now()}`;
    const created = await client.identities.create({ reference, name: 'Ana' });
    expect(created.status).toBe(201);
    const identity = data(created);
    expect(identity).toMatchObject({ reference, name: 'Ana', email: null, email_verified: false, phone: null, cpf: null });
    expect(identity.id).toMatch(/^idn_/);
    problemOf(await client.identities.create({ reference }), 409, 'conflict');

    expect(data(await client.identities.get(reference))).toMatchObject({ id: identity.id, name: 'Ana' });
    problemOf(await client.identities.get('nobody-here'), 404, 'not-found');

    const updated = data(await client.identities.update(reference, { name: 'Ana Souza', cpf: '529.982.247-25' }));
    expect(updated).toMatchObject({ id: identity.id, name: 'Ana Souza' });
    expect(updated.cpf?.replace(/\D/g, '')).toBe('52998224725');

    const email = `ana.${reference}@example.com`;
    const sent = data(await client.verifications.create({ identifier: email, identity_reference: reference }));
    const checked = data(await client.verifications.check({ identifier: email, code: await codeFor(email) }));
    expect(checked.verification_id).toBe(sent.id);
    expect(checked.identity).toMatchObject({ id: identity.id, reference, email, email_verified: true });

    const found = data(await client.identities.search(email));
    expect(found.data.map((i) => i.id)).toEqual([identity.id]);
    expect(found.next_cursor).toBeNull();
    expect(data(await client.identities.search(`nobody.${reference}@example.com`)).data).toEqual([]);

    problemOf(await client.verifications.create({ identifier: phone(), identity_reference: 'no-such-reference' }), 422, 'invalid-identity-reference');
  });

  it('sandbox.messages: captured messages newest first with the code; live keys are refused', async () => {
    const identifier = phone();
    const sent = data(await client.verifications.create({ identifier }));
    await rt.worker.drain();
    const page = data(await client.sandbox.messages({ to: identifier }));
    expect(page.next_cursor).toBeNull();
    expect(page.data).toHaveLength(1);
    expect(page.data[0]).toMatchObject({ to: identifier, channel: 'whatsapp', verification_id: sent.id, code: expect.stringMatching(/^\d{6}$/) });
    expect(page.data[0]?.body).toContain(page.data[0]?.code ?? '-');

    const live = new OtpgateClient({ apiKey: integration.liveKey, baseUrl });
    problemOf(await live.sandbox.messages(), 403, 'test-mode-only');
    expect(live.mode).toBe('live');
  });

  it('pricing.get, balance.get and balance.transactions: the catalog, the balance and the ledger after a top-up', async () => {
    const pricing = data(await client.pricing.get());
    expect(pricing.data.find((r) => r.channel === 'whatsapp' && r.country === '*')).toMatchObject({ price: expect.stringMatching(/^\d+\.\d{4}$/), currency: 'USD' });
    expect(data(await client.balance.get())).toMatchObject({ balance: '0.0000', currency: 'USD', billing_enabled: false });
    const topUp = await fetch(`${baseUrl}/admin/v1/integrations/${integration.id}/topups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount: '2.5', reference: 'contract-topup' }),
    });
    expect(topUp.status).toBe(201);
    expect(data(await client.balance.get()).balance).toBe('2.5000');
    const page = data(await client.balance.transactions({ limit: 1 }));
    expect(page.data).toEqual([expect.objectContaining({ type: 'topup', amount: '2.5000', balance_after: '2.5000', reference: 'contract-topup', currency: 'USD' })]);
    expect(page.next_cursor).toBeNull();
  });

  it('a bad key is invalid-api-key from every served method', async () => {
    const stranger = new OtpgateClient({ apiKey: `otpg_test_${'x'.repeat(40)}`, baseUrl });
    problemOf(await stranger.policy.get(), 401, 'invalid-api-key');
    problemOf(await stranger.verifications.create({ identifier: phone() }), 401, 'invalid-api-key');
  });
});

describe('SDK sandbox inboxes against a real server', () => {
  it('create, waitForCode (a long-poll woken by a test-mode send), get, reorder, finish, cancel; invalid-state and test-mode-only', async () => {
    const created = await client.sandbox.inboxes.create({ kind: 'email' });
    const inbox = data(created);
    expect(created.status).toBe(201);
    expect(inbox).toMatchObject({ kind: 'email', status: 'waiting', otp_code: null, otp_count: 0 });
    expect(inbox.id).toMatch(/^inb_/);

    // The wait starts before the code exists; the worker's delivery of a test-mode send wakes it.
    const waiting = client.sandbox.inboxes.waitForCode(inbox.id, { timeoutMs: 10_000 });
    const sent = data(await client.verifications.create({ identifier: inbox.address }));
    await rt.worker.drain();
    const got = data(await waiting);
    expect(got.otp_count).toBe(1);
    expect(got.code).toMatch(/^\d{6}$/);
    expect(got.inbox).toMatchObject({ id: inbox.id, status: 'otp_received', otp_code: got.code });
    expect(data(await client.verifications.check({ identifier: inbox.address, code: got.code }))).toMatchObject({ status: 'approved', verification_id: sent.id });

    // A resend of the same code: waiting beyond the count seen gets the next one.
    const next = client.sandbox.inboxes.waitForCode(inbox.id, { after: got.otp_count, timeoutMs: 10_000 });
    await client.verifications.create({ identifier: inbox.address });
    await rt.worker.drain();
    expect(data(await next).otp_count).toBe(2);

    const read = data(await client.sandbox.inboxes.get(inbox.id));
    expect(read.otps).toHaveLength(2);
    expect(read.messages?.[0]).toMatchObject({ channel: 'email', code: got.code });
    expect(data(await client.sandbox.inboxes.get(inbox.id, { wait: 1, after: 2 })).otp_count).toBe(2); // nothing new: answered after the wait

    const reordered = data(await client.sandbox.inboxes.reorder(inbox.id));
    expect(reordered.status).toBe('waiting');
    expect(data(await client.sandbox.inboxes.finish(inbox.id)).status).toBe('finished');
    problemOf(await client.sandbox.inboxes.cancel(inbox.id), 409, 'invalid-state');
    const closed = await client.sandbox.inboxes.waitForCode(inbox.id, { after: 2, timeoutMs: 5_000 });
    expect(closed).toMatchObject({ ok: false, status: 0, problem: { type: 'invalid-state', inbox_status: 'finished' } });

    const other = data(await client.sandbox.inboxes.create({ kind: 'phone', country: 'US' }));
    expect(other.address).toMatch(/^\+1\d{10}$/);
    expect(data(await client.sandbox.inboxes.cancel(other.id)).status).toBe('canceled');
    problemOf(await client.sandbox.inboxes.get('inb_doesnotexist'), 404, 'not-found');

    const live = new OtpgateClient({ apiKey: integration.liveKey, baseUrl });
    problemOf(await live.sandbox.inboxes.create({ kind: 'email' }), 403, 'test-mode-only');
  });

  it('waitForCode stretches the request timeout over the long-poll (client timeout 1 s, code after 1.5 s)', async () => {
    const impatient = new OtpgateClient({ apiKey: integration.testKey, baseUrl, timeoutMs: 1_000 });
    const inbox = data(await impatient.sandbox.inboxes.create({ kind: 'email' }));
    const waiting = impatient.sandbox.inboxes.waitForCode(inbox.id, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await impatient.verifications.create({ identifier: inbox.address });
    await rt.worker.drain();
    expect(data(await waiting).otp_count).toBe(1);
  });
});

describe('SDK webhook methods against a real server', () => {
  it('update, get, test, deliveries.list, deliveries.retry and delete; events verify with verifyWebhook', async () => {
    const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(received.length === 2 ? 500 : 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    try {
      problemOf(await client.webhook.get(), 404, 'not-found');
      problemOf(await client.webhook.update({ url: 'ftp://example.com' }), 422, 'invalid-webhook-url');
      const created = data(await client.webhook.update({ url, events: ['verification.delivered'] }));
      expect(created).toMatchObject({ url, events: ['verification.delivered'], is_active: true });
      const secret = created.secret as string;
      expect(secret).toMatch(/^whsec_/);
      const got = data(await client.webhook.get());
      expect(got).toMatchObject({ url, is_active: true, disabled_reason: null });
      expect(got).not.toHaveProperty('secret');

      const test = data(await client.webhook.test());
      expect(test).toMatchObject({ delivered: true, status: 200 });
      expect(verifyWebhook(secret, received[0]!.headers, received[0]!.body)).toMatchObject({ id: test.event_id, type: 'webhook.test' });

      // A send's verification.delivered: the receiver answers 500 (a failed attempt), then a manual retry.
      await client.verifications.create({ identifier: phone() });
      await rt.worker.drain();
      await rt.webhooks.drain();
      const [failed] = data(await client.webhook.deliveries.list({ limit: 10 })).data;
      expect(failed).toMatchObject({ event_type: 'verification.delivered', status: 'pending', attempts: 1, response_status: 500 });
      expect(data(await client.webhook.deliveries.retry(failed!.id))).toMatchObject({ id: failed!.id, status: 'pending' });
      await rt.webhooks.drain();
      expect(data(await client.webhook.deliveries.list()).data[0]).toMatchObject({ id: failed!.id, status: 'succeeded', attempts: 2 });
      const event = verifyWebhook(secret, received[2]!.headers, received[2]!.body);
      expect(event.type).toBe('verification.delivered');
      expect(event.id).toBe(failed!.event_id);
      problemOf(await client.webhook.deliveries.retry('whd_unknown'), 404, 'not-found');

      const deleted = await client.webhook.delete();
      expect(deleted).toMatchObject({ ok: true, status: 204, data: null });
      problemOf(await client.webhook.get(), 404, 'not-found');
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});

describe('coverage of the SDK', () => {
  it('every SDK method is run against the server above', () => {
    const all = sdkMethods(new OtpgateClient({ apiKey: 'otpg_test_x', baseUrl }));
    const helpers = new Set(['url']); // builds a URL, no request
    const untested = all.filter((m) => !called.has(m) && !helpers.has(m));
    expect(untested, 'SDK methods with no contract test against the server').toEqual([]);
  });

  it('marks no method as not served, in the README or in the JSDoc', () => {
    expect(readFileSync(join(ROOT, 'packages/client/README.md'), 'utf8')).not.toMatch(/not yet served/i);
    const sources = ['webhook.ts', 'account.ts', 'sandbox.ts'].map((f) => readFileSync(join(ROOT, 'packages/client/src/resources', f), 'utf8')).join('\n');
    expect(sources).not.toMatch(/@remarks Not yet served/);
  });
});
