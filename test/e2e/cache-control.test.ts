/**
 * Security review (issue 10), item 2, over HTTP against a listening server (in-process runtime on
 * port 0): every answer of the integrator (/v1) and operator (/admin) APIs carries
 * `Cache-Control: no-store`, in particular those that carry keys, secrets, sessions, tokens and
 * codes; a route's own policy (the JWKS) is kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRuntime, type TestRuntime } from '../helpers/runtime.js';

let rt: TestRuntime;
let base: string;

beforeAll(async () => {
  rt = await startRuntime();
  base = await rt.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await rt?.dispose();
});

interface Answer {
  status: number;
  cacheControl: string | null;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, options: { key?: string; admin?: boolean; json?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers['x-api-key'] = options.key;
  if (options.admin) headers.authorization = `Bearer ${ADMIN_TOKEN}`;
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

let phoneCounter = 0;
const phone = (): string => `+55119${String(81_000_000 + ++phoneCounter * 7)}`;

/** An integration whose check answers also issue an access token. */
async function integration(): Promise<{ id: string; key: string; created: Answer }> {
  const created = await call('POST', '/admin/v1/integrations', { admin: true, json: { name: 'Cache', policy: { access_token: { enabled: true } } } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const keys = created.body.keys as { test: { key: string } };
  return { id: created.body.id as string, key: keys.test.key, created };
}

/** Sends a code, delivers it to the sandbox, and returns the sandbox listing answer and the code. */
async function sendAndRead(key: string, to: string): Promise<{ listing: Answer; code: string }> {
  const sent = await call('POST', '/v1/verifications', { key, json: { identifier: to } });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  expect(sent.cacheControl).toBe('no-store');
  await rt.worker.drain();
  const listing = await call('GET', `/v1/sandbox/messages?to=${encodeURIComponent(to)}&limit=1`, { key });
  expect(listing.status).toBe(200);
  const code = (listing.body.data as { code: string }[])[0]?.code ?? '';
  expect(code).toMatch(/^\d+$/);
  return { listing, code };
}

describe('Cache-Control: no-store on API answers that carry secrets (issue 10, item 2)', () => {
  it('POST /admin/v1/integrations (API keys) and its idempotent replay', async () => {
    const { created } = await integration();
    expect(created.body.keys).toBeDefined();
    expect(created.cacheControl).toBe('no-store');

    const once = { admin: true, json: { name: 'Replay' }, headers: { 'idempotency-key': `cache-${Date.now()}` } };
    const first = await call('POST', '/admin/v1/integrations', once);
    const replay = await call('POST', '/admin/v1/integrations', once);
    expect(first.status).toBe(201);
    expect(replay.status).toBe(201);
    expect(replay.body.id).toBe(first.body.id);
    expect(replay.cacheControl).toBe('no-store');
  });

  it('POST /admin/v1/integrations/{id}/keys (a new key)', async () => {
    const { id } = await integration();
    const res = await call('POST', `/admin/v1/integrations/${id}/keys`, { admin: true, json: { mode: 'test' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(JSON.stringify(res.body)).toMatch(/otpg_test_/);
    expect(res.cacheControl).toBe('no-store');
  });

  it('PATCH /admin/v1/integrations/{id}/delivery: with a generated secret, and without one', async () => {
    const { id } = await integration();
    const withSecret = await call('PATCH', `/admin/v1/integrations/${id}/delivery`, { admin: true, json: { http: { url: 'https://93.184.216.34/otp-gateway', channels: ['sms'] } } });
    expect(withSecret.status, JSON.stringify(withSecret.body)).toBe(200);
    expect((withSecret.body.http as { secret?: string }).secret).toMatch(/^whsec_/);
    expect(withSecret.cacheControl).toBe('no-store');

    const without = await call('PATCH', `/admin/v1/integrations/${id}/delivery`, { admin: true, json: { brand_name: 'Acme' } });
    expect(without.status).toBe(200);
    expect(without.cacheControl).toBe('no-store');
    expect((await call('GET', `/admin/v1/integrations/${id}/delivery`, { admin: true })).cacheControl).toBe('no-store');
  });

  it('GET /v1/sandbox/messages (codes), POST /v1/verifications/check (otp_session, access_token), GET and DELETE /v1/sessions/current', async () => {
    const { key } = await integration();
    const to = phone();
    const { listing, code } = await sendAndRead(key, to);
    expect(listing.cacheControl).toBe('no-store');

    const check = await call('POST', '/v1/verifications/check', { key, json: { identifier: to, code } });
    expect(check.status, JSON.stringify(check.body)).toBe(200);
    expect(check.body.otp_session).toEqual(expect.any(String));
    expect(check.body.access_token).toEqual(expect.any(String));
    expect(check.cacheControl).toBe('no-store');

    const session = { key, headers: { 'x-otp-session': check.body.otp_session as string } };
    const current = await call('GET', '/v1/sessions/current', session);
    expect(current.status, JSON.stringify(current.body)).toBe(200);
    expect(current.cacheControl).toBe('no-store');
    const revoked = await call('DELETE', '/v1/sessions/current', session);
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.cacheControl).toBe('no-store');
  });

  it('problems under /v1 and /admin too; the JWKS keeps its own public caching; /healthz is untouched', async () => {
    expect((await call('GET', '/v1/sandbox/messages', { key: 'otpg_test_nope' })).cacheControl).toBe('no-store');
    expect((await call('GET', '/admin/v1/integrations')).cacheControl).toBe('no-store');
    expect((await call('GET', '/v1/no-such-route', { key: 'otpg_test_nope' })).cacheControl).toBe('no-store');
    expect((await call('GET', '/.well-known/jwks.json')).cacheControl).toBe('public, max-age=300');
    expect((await call('GET', '/healthz')).cacheControl).toBeNull();
  });
});
