/**
 * The console's security over plain HTTP against the built server as `npm start` runs it: pages and
 * data need the session, the cookie's flags, CSRF on every state change, the CSP and other headers,
 * wrong tokens rate-limited, sign-out revoking the session, and the assets' caching and compression.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Reply } from '../e2e/client.js';
import { startServer, stopAllServers, type Server } from '../e2e/server.js';
import { randomBytes } from 'node:crypto';
import { NEEDS_POSTGRES, NEEDS_REDIS, POSTGRES_URL, REDIS_URL, createThrowawayDatabase } from '../helpers/stores.js';

interface Session {
  cookie: string;
  csrf: string;
  setCookies: string[];
}

async function signIn(server: Server, token = server.adminToken!): Promise<{ reply: Reply; session: Session }> {
  const res = await fetch(`${server.url}/dashboard/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  const setCookies = res.headers.getSetCookie();
  const text = await res.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  const cookie = setCookies.map((c) => c.split(';')[0]).join('; ');
  return { reply: { status: res.status, headers: res.headers, contentType: res.headers.get('content-type') ?? '', text, body }, session: { cookie, csrf: String(body.csrf_token ?? ''), setCookies } };
}

describe('operator console security', () => {
  let server: Server;
  let https: Server;
  beforeAll(async () => {
    [server, https] = await Promise.all([
      startServer({ env: { OTPGATE_DASHBOARD_SIGNIN_ATTEMPTS: '3' } }),
      startServer({ env: { OTPGATE_PUBLIC_URL: 'https://otp.example.com' } }),
    ]);
  }, 60_000);
  afterAll(() => stopAllServers());

  it('sends pages without a session to sign-in, and refuses data without it', async () => {
    for (const page of ['/dashboard/', '/dashboard/integrations', '/dashboard/verifications/int_abc/ver_abc']) {
      const res = await fetch(`${server.url}${page}`, { redirect: 'manual' });
      expect(res.status, page).toBe(303);
      expect(res.headers.get('location')).toBe(`/dashboard/sign-in?next=${encodeURIComponent(page)}`);
    }
    const signInPage = await fetch(`${server.url}/dashboard/sign-in`);
    expect(signInPage.status).toBe(200);
    expect(await signInPage.text()).toContain('<div id="app">');
    for (const path of ['/admin/v1/integrations', '/admin/v1/signing-keys', '/dashboard/session']) {
      const res = await request(server, 'GET', path);
      expect(res.status, path).toBe(401);
      expect(res.body.type).toBe('invalid-api-key');
    }
    // A forged or tampered cookie is no session.
    const { session } = await signIn(server);
    const forged = session.cookie.replace(/otpgate_session=v1\.([^.]+)\.(\d+)/, (_m, sid: string, at: string) => `otpgate_session=v1.${sid}.${Number(at) + 1}`);
    expect((await request(server, 'GET', '/admin/v1/integrations', { headers: { cookie: forged } })).status).toBe(401);
    expect((await request(server, 'GET', '/admin/v1/integrations', { headers: { cookie: session.cookie } })).status).toBe(200);
    const page = await fetch(`${server.url}/dashboard/integrations`, { headers: { cookie: session.cookie }, redirect: 'manual' });
    expect(page.status).toBe(200);
  });

  it('sets an HttpOnly, SameSite=Strict session cookie, Secure when OTPGATE_PUBLIC_URL is https', async () => {
    const { reply, session } = await signIn(server);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    const sessionCookie = session.setCookies.find((c) => c.startsWith('otpgate_session='))!;
    expect(sessionCookie).toMatch(/; HttpOnly/);
    expect(sessionCookie).toMatch(/; SameSite=Strict/);
    expect(sessionCookie).toMatch(/; Path=\//);
    expect(sessionCookie).not.toMatch(/; Secure/);
    expect(session.setCookies.find((c) => c.startsWith('otpgate_csrf='))).toMatch(/HttpOnly.*SameSite=Strict|SameSite=Strict.*HttpOnly/);
    const secure = await signIn(https);
    for (const c of secure.session.setCookies) expect(c).toMatch(/; Secure/);
    expect(secure.reply.headers.get('strict-transport-security')).toMatch(/max-age=/);
  });

  it('refuses a state change without the CSRF token, or with another session’s, and accepts it with its own', async () => {
    const { session } = await signIn(server);
    const other = await signIn(server);
    const create = (headers: Record<string, string>) => request(server, 'POST', '/admin/v1/integrations', { json: { name: 'csrf check' }, headers });
    const without = await create({ cookie: session.cookie });
    expect(without.status).toBe(403);
    expect(without.body.type).toBe('csrf-failed');
    expect(without.contentType).toMatch(/application\/problem\+json/);
    expect((await create({ cookie: session.cookie, 'x-csrf-token': other.session.csrf })).status).toBe(403);
    expect((await create({ cookie: session.cookie, 'x-csrf-token': 'garbage' })).status).toBe(403);
    for (const [method, path] of [['PATCH', '/admin/v1/integrations/int_abc'], ['DELETE', '/admin/v1/integrations/int_abc'], ['PUT', '/admin/v1/pricing'], ['POST', '/admin/v1/signing-keys/rotate']] as const) {
      const res = await request(server, method, path, { headers: { cookie: session.cookie }, ...(method === 'DELETE' ? {} : { json: {} }) });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    const list = async () => ((await request(server, 'GET', '/admin/v1/integrations?limit=100', { headers: { cookie: session.cookie } })).body.data as Array<{ name: string }>).filter((i) => i.name === 'csrf check').length;
    expect(await list()).toBe(0); // nothing refused took effect
    const ok = await create({ cookie: session.cookie, 'x-csrf-token': session.csrf });
    expect(ok.status).toBe(201);
    expect(await list()).toBe(1);
    // The admin token still works as before, without any cookie or CSRF token.
    expect((await request(server, 'POST', '/admin/v1/integrations', { bearer: server.adminToken!, json: { name: 'bearer' } })).status).toBe(201);
    expect((await request(server, 'GET', '/admin/v1/integrations', { bearer: 'wrong-token-wrong-token', headers: { cookie: session.cookie } })).status).toBe(401);
  });

  it('serves every console answer with a strict CSP and no framing', async () => {
    const { session } = await signIn(server);
    const index = await fetch(`${server.url}/dashboard/integrations`, { headers: { cookie: session.cookie } });
    const html = await index.text();
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    // No inline script or style in the page: only files from this origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style=/);
    for (const src of html.match(/(?:src|href)="([^"]+)"/g) ?? []) expect(src).toMatch(/"(\/dashboard\/assets\/|data:,)/);
    for (const path of ['/dashboard/sign-in', '/dashboard/session']) expect((await fetch(`${server.url}${path}`)).headers.get('content-security-policy')).toBe(csp);
  });

  it('serves hashed assets as immutable and compressed, and the page as no-cache', async () => {
    const page = await fetch(`${server.url}/dashboard/sign-in`);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const assets = [...html.matchAll(/"\/dashboard\/assets\/([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => /^app-[A-Z0-9]{8}\.js$/.test(a))).toBe(true);
    expect(assets.some((a) => /^styles-[A-Z0-9]{8}\.css$/.test(a))).toBe(true);
    for (const asset of assets) {
      for (const encoding of ['br', 'gzip']) {
        const res = await fetch(`${server.url}/dashboard/assets/${asset}`, { headers: { 'accept-encoding': encoding } });
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
        expect(res.headers.get('content-encoding')).toBe(encoding);
        expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
      }
    }
    const missing = await request(server, 'GET', '/dashboard/assets/app-NOPE.js');
    expect(missing.status).toBe(404);
    expect((await request(server, 'GET', '/dashboard/assets/..%2F..%2Fpackage.json')).status).toBe(404);
    // The API is not compressed by the console's plugin, and keeps no-store.
    const api = await fetch(`${server.url}/admin/v1/integrations`, { headers: { authorization: `Bearer ${server.adminToken}`, 'accept-encoding': 'br' } });
    expect(api.headers.get('content-encoding')).toBeNull();
    expect(api.headers.get('cache-control')).toBe('no-store');
  });

  it('rate-limits wrong admin tokens per address, even for the right one meanwhile', async () => {
    for (let i = 0; i < 3; i++) {
      const wrong = await signIn(server, `wrong-token-${i}-xxxxxxxx`);
      expect(wrong.reply.status).toBe(401);
      expect(wrong.session.setCookies).toEqual([]);
    }
    const limited = await signIn(server, 'wrong-token-again-xxxxxxxx');
    expect(limited.reply.status).toBe(429);
    expect(limited.reply.body.type).toBe('rate-limit-exceeded');
    expect(Number(limited.reply.headers.get('retry-after'))).toBeGreaterThan(0);
    const right = await signIn(server);
    expect(right.reply.status).toBe(429);
    expect(right.session.setCookies).toEqual([]);
    // The other server (another address book) still signs in.
    expect((await signIn(https)).reply.status).toBe(200);
  });

  it('signs out: the session and its cookie are refused afterwards; sign-out itself needs the CSRF token', async () => {
    const { session } = await signIn(https);
    const noToken = await request(https, 'DELETE', '/dashboard/session', { headers: { cookie: session.cookie } });
    expect(noToken.status).toBe(403);
    expect((await request(https, 'GET', '/admin/v1/integrations', { headers: { cookie: session.cookie } })).status).toBe(200);
    const out = await fetch(`${https.url}/dashboard/session`, { method: 'DELETE', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie().join('\n')).toMatch(/otpgate_session=;.*Expires=Thu, 01 Jan 1970/);
    expect((await request(https, 'GET', '/admin/v1/integrations', { headers: { cookie: session.cookie } })).status).toBe(401);
    expect((await request(https, 'GET', '/dashboard/session', { headers: { cookie: session.cookie } })).status).toBe(401);
  });

  it('ends a live stream opened with a session when that session is signed out', async () => {
    // (The other server has rate-limited this address by now.)
    const { session } = await signIn(https);
    const id = ((await request(https, 'GET', '/admin/v1/integrations', { headers: { cookie: session.cookie } })).body.data as Array<{ id: string }>)[0]!.id;
    const res = await fetch(`${https.url}/admin/v1/integrations/${id}/live`, { headers: { cookie: session.cookie } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain(': connected');
    const out = await fetch(`${https.url}/dashboard/session`, { method: 'DELETE', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
    expect(out.status).toBe(204);
    const started = Date.now();
    let done = false;
    while (!done && Date.now() - started < 5_000) done = (await reader.read()).done;
    expect(done).toBe(true);
    expect((await fetch(`${https.url}/admin/v1/integrations/${id}/live`, { headers: { cookie: session.cookie } })).status).toBe(401);
  });

  it('answers bad sign-in input with a 400 problem, never a 500', async () => {
    for (const body of ['{', '[]', '{"token":""}', '{"token":1}', '{"token":"x","extra":1}', JSON.stringify({ token: 'x'.repeat(600) })]) {
      const res = await request(server, 'POST', '/dashboard/session', { rawBody: body });
      expect(res.status, body).toBe(400);
      expect(res.body.type).toBe('validation-error');
    }
    for (const cookie of ['otpgate_session=v1', 'otpgate_session=v1.a.b.c.d', `otpgate_session=${'x'.repeat(4000)}`, 'otpgate_session=%E0%A4%A']) {
      expect((await request(server, 'GET', '/admin/v1/integrations', { headers: { cookie } })).status, cookie).toBe(401);
    }
  });
});

/** Two processes of one deployment (one Postgres, one Redis): a session signed out on one is refused by the other. */
describe.skipIf(!POSTGRES_URL || !REDIS_URL)(`console sessions across processes${!POSTGRES_URL || !REDIS_URL ? ` (skipped: ${!POSTGRES_URL ? NEEDS_POSTGRES : NEEDS_REDIS})` : ''}`, () => {
  let a: Server;
  let b: Server;
  let drop: () => Promise<void> = async () => {};
  beforeAll(async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL!);
    drop = db.drop;
    const env = { OTPGATE_DATABASE_URL: db.url, OTPGATE_REDIS_URL: REDIS_URL!, OTPGATE_SECRET: randomBytes(32).toString('base64url') };
    a = await startServer({ env, adminToken: 'shared-admin-token-0123456789' });
    b = await startServer({ env, adminToken: 'shared-admin-token-0123456789' });
  }, 60_000);
  afterAll(async () => {
    await stopAllServers();
    await drop();
  });

  it('signs out everywhere', async () => {
    const { session } = await signIn(a);
    expect((await request(b, 'GET', '/admin/v1/integrations', { headers: { cookie: session.cookie } })).status).toBe(200);
    expect((await fetch(`${a.url}/dashboard/session`, { method: 'DELETE', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } })).status).toBe(204);
    await expect.poll(async () => (await request(b, 'GET', '/admin/v1/integrations', { headers: { cookie: session.cookie } })).status).toBe(401);
  });
});
