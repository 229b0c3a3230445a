import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtpgateClient } from './client.js';
import type { Result } from './problem.js';
import * as fx from './testing/fixtures.js';
import { startStub, type HttpStub, type StubReply } from './testing/http-stub.js';

/** Canned docs/api.md answers (served and planned endpoints) by `METHOD path` (path without the query). */
const routes: Record<string, StubReply> = {
  'POST /v1/verifications': { status: 201, body: fx.verification },
  'POST /v1/verifications/check': { status: 200, body: fx.checked },
  'GET /v1/verifications/ver_1a2b3c': { status: 200, body: fx.verification },
  'POST /v1/verifications/ver_1a2b3c/resend': { status: 200, body: fx.verification },
  'POST /v1/verifications/ver_1a2b3c/cancel': { status: 200, body: { ...fx.verification, status: 'canceled' } },
  'GET /v1/policy': { status: 200, body: fx.policy },
  'POST /v1/authorize': { status: 200, body: { allowed: true, otp_required: false } },
  'GET /v1/sessions/current': { status: 200, body: { id: 'ses_1', identifier: '+5511987654321', identity: null, action: 'redemption', expires_at: 'x', created_at: 'y' } },
  'DELETE /v1/sessions/current': { status: 200, body: { id: 'ses_1', revoked: true } },
  'POST /v1/tokens/introspect': { status: 200, body: { active: false } },
  'POST /v1/identities': { status: 201, body: fx.identity },
  'GET /v1/identities/user%2F42': { status: 200, body: fx.identity },
  'GET /v1/identities': { status: 200, body: { data: [fx.identity], next_cursor: null } },
  'PATCH /v1/identities/user-42': { status: 200, body: { ...fx.identity, name: 'Ana Souza' } },
  'GET /v1/webhook': { status: 200, body: fx.webhook },
  'PATCH /v1/webhook': { status: 200, body: { ...fx.webhook, secret: 'whsec_abc' } },
  'DELETE /v1/webhook': { status: 204 },
  'GET /v1/webhook/deliveries': { status: 200, body: { data: [fx.delivery], next_cursor: null } },
  'POST /v1/webhook/deliveries/whd_55/retry': { status: 200, body: fx.delivery },
  'POST /v1/webhook/test': { status: 200, body: { event_id: 'evt_1', delivered: true, status: 204, response_time_ms: 12, response_body: '', error: null } },
  'GET /v1/pricing': { status: 200, body: fx.pricing },
  'GET /v1/balance': { status: 200, body: fx.balance },
  'GET /v1/balance/transactions': { status: 200, body: fx.ledger },
  'GET /v1/sandbox/messages': { status: 200, body: { data: [fx.message], next_cursor: null } },
  'POST /v1/sandbox/inboxes': { status: 201, body: fx.inbox },
  'GET /v1/sandbox/inboxes/inb_3': { status: 200, body: { ...fx.inbox, status: 'otp_received', otp_code: '123456' } },
  'POST /v1/sandbox/inboxes/inb_3/finish': { status: 200, body: { ...fx.inbox, status: 'finished' } },
  'POST /v1/sandbox/inboxes/inb_3/cancel': { status: 200, body: { ...fx.inbox, status: 'canceled' } },
  'POST /v1/sandbox/inboxes/inb_3/reorder': { status: 200, body: fx.inbox },
  'GET /.well-known/jwks.json': { status: 200, body: fx.jwks },
};

let stub: HttpStub;
let client: OtpgateClient;

beforeAll(async () => {
  stub = await startStub((req) => routes[`${req.method} ${req.url.split('?')[0]}`] ?? { status: 404, body: { message: 'Route not found', statusCode: 404 } });
  client = new OtpgateClient({ apiKey: 'otpg_test_abc', baseUrl: `${stub.url}/` });
});
afterAll(() => stub.close());

interface Case {
  name: string;
  call: (c: OtpgateClient) => Promise<Result<unknown>>;
  method: string;
  url: string;
  body?: unknown;
  status: number;
  headers?: Record<string, string>;
}

const cases: Case[] = [
  { name: 'verifications.create', call: (c) => c.verifications.create({ identifier: '+5511987654321', action: 'redemption' }), method: 'POST', url: '/v1/verifications', body: { identifier: '+5511987654321', action: 'redemption' }, status: 201 },
  { name: 'verifications.check', call: (c) => c.verifications.check({ verification_id: 'ver_1a2b3c', code: '123456' }), method: 'POST', url: '/v1/verifications/check', body: { verification_id: 'ver_1a2b3c', code: '123456' }, status: 200 },
  { name: 'verifications.get', call: (c) => c.verifications.get('ver_1a2b3c'), method: 'GET', url: '/v1/verifications/ver_1a2b3c', status: 200 },
  { name: 'verifications.resend', call: (c) => c.verifications.resend('ver_1a2b3c', { channel: 'sms' }), method: 'POST', url: '/v1/verifications/ver_1a2b3c/resend', body: { channel: 'sms' }, status: 200 },
  { name: 'verifications.cancel', call: (c) => c.verifications.cancel('ver_1a2b3c'), method: 'POST', url: '/v1/verifications/ver_1a2b3c/cancel', body: {}, status: 200 },
  { name: 'policy.get', call: (c) => c.policy.get(), method: 'GET', url: '/v1/policy', status: 200 },
  { name: 'authorize', call: (c) => c.authorize('redemption', { session: 'ots_1', identifier: 'ana@example.com' }), method: 'POST', url: '/v1/authorize', body: { action: 'redemption', identifier: 'ana@example.com' }, status: 200, headers: { 'x-otp-session': 'ots_1' } },
  { name: 'sessions.current', call: (c) => c.sessions.current('ots_1'), method: 'GET', url: '/v1/sessions/current', status: 200, headers: { 'x-otp-session': 'ots_1' } },
  { name: 'sessions.revoke', call: (c) => c.sessions.revoke('ots_1'), method: 'DELETE', url: '/v1/sessions/current', status: 200, headers: { 'x-otp-session': 'ots_1' } },
  { name: 'tokens.introspect', call: (c) => c.tokens.introspect('eyJ.x.y'), method: 'POST', url: '/v1/tokens/introspect', body: { token: 'eyJ.x.y' }, status: 200 },
  { name: 'identities.create', call: (c) => c.identities.create({ reference: 'user-42', email: 'ana@example.com' }), method: 'POST', url: '/v1/identities', body: { reference: 'user-42', email: 'ana@example.com' }, status: 201 },
  { name: 'identities.get', call: (c) => c.identities.get('user/42'), method: 'GET', url: '/v1/identities/user%2F42', status: 200 },
  { name: 'identities.search', call: (c) => c.identities.search('+55 11 98765-4321'), method: 'GET', url: '/v1/identities?identifier=%2B55+11+98765-4321', status: 200 },
  { name: 'identities.update', call: (c) => c.identities.update('user-42', { name: 'Ana Souza', cpf: null }), method: 'PATCH', url: '/v1/identities/user-42', body: { name: 'Ana Souza', cpf: null }, status: 200 },
  { name: 'webhook.get', call: (c) => c.webhook.get(), method: 'GET', url: '/v1/webhook', status: 200 },
  { name: 'webhook.update', call: (c) => c.webhook.update({ url: 'https://example.com/hooks', events: ['*'] }), method: 'PATCH', url: '/v1/webhook', body: { url: 'https://example.com/hooks', events: ['*'] }, status: 200 },
  { name: 'webhook.delete', call: (c) => c.webhook.delete(), method: 'DELETE', url: '/v1/webhook', status: 204 },
  { name: 'webhook.deliveries.list', call: (c) => c.webhook.deliveries.list({ limit: 50, cursor: 'abc' }), method: 'GET', url: '/v1/webhook/deliveries?limit=50&cursor=abc', status: 200 },
  { name: 'webhook.deliveries.retry', call: (c) => c.webhook.deliveries.retry('whd_55'), method: 'POST', url: '/v1/webhook/deliveries/whd_55/retry', body: {}, status: 200 },
  { name: 'webhook.test', call: (c) => c.webhook.test(), method: 'POST', url: '/v1/webhook/test', body: {}, status: 200 },
  { name: 'pricing.get', call: (c) => c.pricing.get(), method: 'GET', url: '/v1/pricing', status: 200 },
  { name: 'balance.get', call: (c) => c.balance.get(), method: 'GET', url: '/v1/balance', status: 200 },
  { name: 'balance.transactions', call: (c) => c.balance.transactions({ limit: 1 }), method: 'GET', url: '/v1/balance/transactions?limit=1', status: 200 },
  { name: 'sandbox.messages', call: (c) => c.sandbox.messages({ to: '+5511987654321', limit: 1, cursor: 'c1' }), method: 'GET', url: '/v1/sandbox/messages?to=%2B5511987654321&limit=1&cursor=c1', status: 200 },
  { name: 'sandbox.inboxes.create', call: (c) => c.sandbox.inboxes.create({ kind: 'email' }), method: 'POST', url: '/v1/sandbox/inboxes', body: { kind: 'email' }, status: 201 },
  { name: 'sandbox.inboxes.get', call: (c) => c.sandbox.inboxes.get('inb_3'), method: 'GET', url: '/v1/sandbox/inboxes/inb_3', status: 200 },
  { name: 'sandbox.inboxes.finish', call: (c) => c.sandbox.inboxes.finish('inb_3'), method: 'POST', url: '/v1/sandbox/inboxes/inb_3/finish', body: {}, status: 200 },
  { name: 'sandbox.inboxes.cancel', call: (c) => c.sandbox.inboxes.cancel('inb_3'), method: 'POST', url: '/v1/sandbox/inboxes/inb_3/cancel', body: {}, status: 200 },
  { name: 'sandbox.inboxes.reorder', call: (c) => c.sandbox.inboxes.reorder('inb_3'), method: 'POST', url: '/v1/sandbox/inboxes/inb_3/reorder', body: {}, status: 200 },
  { name: 'sandbox.inboxes.get (long-poll)', call: (c) => c.sandbox.inboxes.get('inb_3', { wait: 90, after: 2 }), method: 'GET', url: '/v1/sandbox/inboxes/inb_3?wait=60&after=2', status: 200 },
  { name: 'jwks', call: (c) => c.jwks(), method: 'GET', url: '/.well-known/jwks.json', status: 200 },
];

describe('every endpoint of docs/api.md (planned ones included, against this stub only)', () => {
  it.each(cases)('$name → $method $url', async ({ call, method, url, body, status, headers }) => {
    const before = stub.requests.length;
    const res = await call(client);
    expect(stub.requests).toHaveLength(before + 1);
    const seen = stub.requests[before]!;
    expect(seen.method).toBe(method);
    expect(seen.url).toBe(url);
    expect(seen.headers['x-api-key']).toBe('otpg_test_abc');
    expect(seen.headers.accept).toBe('application/json');
    expect(seen.headers['x-signature']).toBeUndefined();
    expect(seen.json).toEqual(body);
    if (body === undefined) expect(seen.headers['content-type']).toBeUndefined();
    else expect(seen.headers['content-type']).toBe('application/json');
    for (const [name, value] of Object.entries(headers ?? {})) expect(seen.headers[name]).toBe(value);
    if (!headers?.['x-otp-session']) expect(seen.headers['x-otp-session']).toBeUndefined();

    const canned = routes[`${method} ${url.split('?')[0]}`]!;
    expect(res).toEqual({ ok: true, status, data: canned.body ?? null, requestId: `req-${before + 1}` });
  });

  it('covers every route of the canned table', () => {
    const covered = new Set(cases.map((c) => `${c.method} ${c.url.split('?')[0]}`));
    expect([...covered].sort()).toEqual(Object.keys(routes).sort());
  });

  it('sends no X-OTP-Session and no identifier when authorize has neither', async () => {
    await client.authorize('enrollment');
    const seen = stub.requests.at(-1)!;
    expect(seen.headers['x-otp-session']).toBeUndefined();
    expect(seen.json).toEqual({ action: 'enrollment' });
  });

  it('types the answers: a narrowed check result exposes the session and token', async () => {
    const res = await client.verifications.check({ identifier: '+5511987654321', code: '123456' });
    if (!res.ok) throw new Error('expected approval');
    expect(res.data.otp_session).toBe('ots_secret_session');
    expect(res.data.identity?.reference).toBe('user-42');
    expect(res.data.scope?.split(' ')).toContain('redemption');
  });
});
