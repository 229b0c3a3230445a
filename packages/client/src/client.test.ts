import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OtpgateClient } from './client.js';
import * as fx from './testing/fixtures.js';
import { freePort, problemBody, startStub, type HttpStub, type StubReply } from './testing/http-stub.js';

let stub: HttpStub;
let next: StubReply;

beforeAll(async () => {
  stub = await startStub(() => next);
});
afterAll(() => stub.close());
beforeEach(() => {
  next = { status: 201, body: fx.verification };
});

const client = (extra: Partial<ConstructorParameters<typeof OtpgateClient>[0]> = {}) =>
  new OtpgateClient({ apiKey: 'otpg_test_abc', baseUrl: stub.url, ...extra });

describe('requests', () => {
  it('sends the key, JSON body, Idempotency-Key and a user agent, and parses the 201', async () => {
    const res = await client().verifications.create({ identifier: '+5511987654321', channel: 'sms' }, { idempotencyKey: 'order-77' });
    const seen = stub.requests.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/v1/verifications');
    expect(seen.headers['x-api-key']).toBe('otpg_test_abc');
    expect(seen.headers['idempotency-key']).toBe('order-77');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.headers['user-agent']).toMatch(/^otpgate-client\//);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.body).toBe('{"identifier":"+5511987654321","channel":"sms"}');
    expect(res.ok && res.data.id).toBe('ver_1a2b3c');
    expect(res.status).toBe(201);
    expect(res.requestId).toBe(`req-${stub.requests.length}`);
  });

  it('sends no Idempotency-Key unless asked', async () => {
    await client().verifications.create({ identifier: 'ana@example.com' });
    expect(stub.requests.at(-1)!.headers['idempotency-key']).toBeUndefined();
  });

  it('keeps a path prefix of baseUrl', async () => {
    next = { status: 200, body: fx.policy };
    await client({ baseUrl: `${stub.url}/otpgate/` }).policy.get();
    expect(stub.requests.at(-1)!.url).toBe('/otpgate/v1/policy');
  });
});

describe('signed requests', () => {
  const secret = 'sk_signing_secret';
  const now = () => 1_700_000_123_456;
  const expectedSignature = (ts: string, method: string, pathWithQuery: string, body: string) =>
    'v1=' + createHmac('sha256', secret).update(`${ts}\n${method}\n${pathWithQuery}\n${createHash('sha256').update(body).digest('hex')}`).digest('hex');

  it('signs a POST over the exact body bytes sent', async () => {
    await client({ signingSecret: secret, now }).verifications.create({ identifier: '+5511987654321' }, { idempotencyKey: 'k1' });
    const seen = stub.requests.at(-1)!;
    expect(seen.headers['x-timestamp']).toBe('1700000123');
    expect(seen.headers['x-signature']).toBe(expectedSignature('1700000123', 'POST', '/v1/verifications', seen.body));
  });

  it('signs a GET over the path with its query and the empty body', async () => {
    next = { status: 200, body: { data: [], next_cursor: null } };
    await client({ signingSecret: secret, now }).sandbox.messages({ to: '+5511987654321', limit: 5 });
    const seen = stub.requests.at(-1)!;
    expect(seen.url).toBe('/v1/sandbox/messages?to=%2B5511987654321&limit=5');
    expect(seen.body).toBe('');
    expect(seen.headers['x-signature']).toBe(expectedSignature('1700000123', 'GET', seen.url, ''));
  });

  it('signs with the current clock by default and not at all without a secret', async () => {
    await client({ signingSecret: secret }).verifications.get('ver_1a2b3c');
    const ts = Number(stub.requests.at(-1)!.headers['x-timestamp']);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(5);
    await client({ signingSecret: '' }).verifications.get('ver_1a2b3c');
    expect(stub.requests.at(-1)!.headers['x-signature']).toBeUndefined();
  });
});

describe('problems', () => {
  it('parses invalid-code with attempts_remaining', async () => {
    next = { status: 401, body: problemBody('invalid-code', 401, 'The code is not correct.', { attempts_remaining: 2 }) };
    const res = await client().verifications.check({ identifier: '+5511987654321', code: '000000' });
    expect(res).toMatchObject({ ok: false, status: 401, requestId: expect.stringMatching(/^req-/) });
    if (res.ok) throw new Error('expected a problem');
    expect(res.problem.type).toBe('invalid-code');
    if (res.problem.type === 'invalid-code') expect(res.problem.attempts_remaining).toBe(2);
    expect(res.problem.detail).toBe('The code is not correct.');
  });

  it('parses a validation error with errors and passes unknown members through', async () => {
    next = { status: 400, body: problemBody('validation-error', 400, 'bad', { errors: { identifier: ['invalid'] }, instance: '/v1/x' }) };
    const res = await client().verifications.create({ identifier: 'nope' });
    expect(!res.ok && res.problem).toMatchObject({ type: 'validation-error', status: 400, errors: { identifier: ['invalid'] }, instance: '/v1/x' });
  });

  it('parses identifier-locked with lock_duration and retry_after', async () => {
    next = { status: 429, body: problemBody('identifier-locked', 429, 'locked', { lock_duration: 1700, retry_after: 1700 }), headers: { 'retry-after': '1700' } };
    const res = await client().verifications.check({ identifier: '+5511987654321', code: '111111' });
    expect(!res.ok && res.problem).toMatchObject({ type: 'identifier-locked', lock_duration: 1700, retry_after: 1700 });
  });

  it('fills retry_after from the Retry-After header when the body lacks it', async () => {
    next = { status: 429, body: problemBody('resend-cooldown', 429, 'wait'), headers: { 'retry-after': '12' } };
    const res = await client().verifications.resend('ver_1a2b3c');
    expect(!res.ok && res.problem).toMatchObject({ type: 'resend-cooldown', retry_after: 12 });
  });

  it('answers a non-JSON 502 as unavailable with the real status', async () => {
    next = { status: 502, raw: '<html><body>Bad Gateway</body></html>' };
    const res = await client().policy.get();
    expect(res).toMatchObject({ ok: false, status: 502, problem: { type: 'unavailable', status: 503 } });
    expect(!res.ok && res.problem.detail).toContain('502');
  });

  it('answers a 500 problem of a type outside the API list as unavailable', async () => {
    next = { status: 500, body: problemBody('internal-error', 500, 'boom') };
    const res = await client().policy.get();
    expect(res).toMatchObject({ ok: false, status: 500, problem: { type: 'unavailable', upstream_status: 500 } });
  });

  it('maps an error body that is not a problem by its status (404 → not-found)', async () => {
    next = { status: 404, body: { message: 'Route POST:/v1/authorize not found', error: 'Not Found', statusCode: 404 } };
    const res = await client().authorize('redemption', { session: 'ots_1' });
    expect(res).toMatchObject({ ok: false, status: 404, problem: { type: 'not-found', status: 404 } });
    expect(!res.ok && res.problem.detail).toContain('Route POST:/v1/authorize not found');
  });

  it('answers a 2xx that is not JSON as unavailable', async () => {
    next = { status: 200, raw: 'OK' };
    const res = await client().policy.get();
    expect(res).toMatchObject({ ok: false, status: 200, problem: { type: 'unavailable' } });
  });
});

describe('network failures', () => {
  it('answers a refused connection as unavailable with status 0, without throwing', async () => {
    const port = await freePort();
    const res = await new OtpgateClient({ apiKey: 'otpg_test_abc', baseUrl: `http://127.0.0.1:${port}` }).verifications.create({ identifier: 'ana@example.com' });
    expect(res).toMatchObject({ ok: false, status: 0, requestId: null, problem: { type: 'unavailable', status: 503, title: expect.any(String) } });
    expect(!res.ok && res.problem.detail).toMatch(/ECONNREFUSED|could not be reached/);
  });

  it('answers a timeout as unavailable with status 0', async () => {
    next = { status: 200, hang: true };
    const started = Date.now();
    const res = await client({ timeoutMs: 150 }).policy.get();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res).toMatchObject({ ok: false, status: 0, problem: { type: 'unavailable' } });
    expect(!res.ok && res.problem.detail).toContain('150 ms');
  });

  it('answers a caller abort as unavailable too', async () => {
    next = { status: 200, hang: true };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const res = await client().policy.get({ signal: controller.signal });
    expect(res).toMatchObject({ ok: false, status: 0, problem: { type: 'unavailable' } });
  });

  it('answers a throwing custom fetch as unavailable', async () => {
    const res = await client({ fetch: () => Promise.reject(new Error('proxy says no')) }).balance.get();
    expect(res).toMatchObject({ ok: false, status: 0, problem: { type: 'unavailable', detail: expect.stringContaining('proxy says no') } });
  });
});

describe('construction', () => {
  it('requires an API key and a positive timeout, and defaults the base URL', () => {
    expect(() => new OtpgateClient({ apiKey: '' })).toThrow(TypeError);
    expect(() => new OtpgateClient({ apiKey: 'k', timeoutMs: 0 })).toThrow(TypeError);
    const c = new OtpgateClient({ apiKey: 'k' });
    expect(c.baseUrl).toBe('http://127.0.0.1:8080');
    expect(c.url('/.well-known/jwks.json').href).toBe('http://127.0.0.1:8080/.well-known/jwks.json');
  });
});
