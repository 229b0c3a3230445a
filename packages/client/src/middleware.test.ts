import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OtpgateClient } from './client.js';
import {
  expressFramework,
  fastifyFramework,
  GOOD_SESSION,
  SESSION_EXPIRES_AT,
  SESSION_IDENTIFIER,
  startStubOtpgate,
  type AppOptions,
  type RunningApp,
  type StubOtpgate,
} from './testing/apps.js';
import { freePort, problemBody } from './testing/http-stub.js';

let otpgate: StubOtpgate;
let client: OtpgateClient;

beforeAll(async () => {
  otpgate = await startStubOtpgate();
  client = new OtpgateClient({ apiKey: 'otpg_test_mw', baseUrl: otpgate.url, timeoutMs: 2000 });
});
afterAll(() => otpgate.close());
beforeEach(() => {
  otpgate.override = null;
});

async function redeem(app: RunningApp, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body: Record<string, unknown> }> {
  const res = await fetch(`${app.url}/redeem`, { method: 'POST', headers });
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}

describe.each([expressFramework, fastifyFramework])('requireOtp for $name (session mode)', (framework) => {
  const apps: RunningApp[] = [];
  const start = async (options: Partial<AppOptions> = {}) => {
    const app = await framework.start({ client, ...options });
    apps.push(app);
    return app;
  };
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('answers 403 otp-required (problem+json) without a session', async () => {
    const app = await start();
    const before = otpgate.authorizeCalls();
    const res = await redeem(app);
    expect(res.status).toBe(403);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'otp-required', status: 403 });
    expect(otpgate.authorizeCalls()).toBe(before + 1);
    const seen = otpgate.requests.at(-1)!;
    expect(seen.headers['x-otp-session']).toBeUndefined();
    expect(seen.headers['x-api-key']).toBe('otpg_test_mw');
    expect(seen.json).toEqual({ action: 'redemption' });
  });

  it('lets a session the stub accepts through, with req.otp', async () => {
    const app = await start();
    const res = await redeem(app, { 'X-OTP-Session': GOOD_SESSION });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      redeemed: true,
      otp: { otpRequired: true, session: { identifier: SESSION_IDENTIFIER, identity: null, expires_at: SESSION_EXPIRES_AT } },
    });
    expect(otpgate.requests.at(-1)!.headers['x-otp-session']).toBe(GOOD_SESSION);
  });

  it('refuses a session that is not the stub’s', async () => {
    const app = await start();
    expect((await redeem(app, { 'X-OTP-Session': 'ots_forged' })).status).toBe(403);
  });

  it('sends the identifier and refuses a session for another identifier', async () => {
    const app = await start({ withIdentifier: true });
    expect((await redeem(app, { 'X-OTP-Session': GOOD_SESSION, 'X-User-Identifier': '+5521999999999' })).status).toBe(403);
    expect(otpgate.requests.at(-1)!.json).toEqual({ action: 'redemption', identifier: '+5521999999999' });
    expect((await redeem(app, { 'X-OTP-Session': GOOD_SESSION, 'X-User-Identifier': SESSION_IDENTIFIER })).status).toBe(200);
  });

  it('lets an action the policy does not gate through without a session', async () => {
    const app = await start({ action: 'sign_in' });
    const res = await redeem(app);
    expect(res.status).toBe(200);
    expect(res.body.otp).toEqual({ otpRequired: false });
  });

  it('reuses an allowed answer within cacheTtlMs (one authorize call for two requests)', async () => {
    const app = await start();
    const before = otpgate.authorizeCalls();
    expect((await redeem(app, { 'X-OTP-Session': GOOD_SESSION })).status).toBe(200);
    expect((await redeem(app, { 'X-OTP-Session': GOOD_SESSION })).status).toBe(200);
    expect(otpgate.authorizeCalls()).toBe(before + 1);
  });

  it('keys the cache by session: another session asks again', async () => {
    const app = await start();
    const before = otpgate.authorizeCalls();
    await redeem(app, { 'X-OTP-Session': GOOD_SESSION });
    await redeem(app, { 'X-OTP-Session': 'ots_other' });
    expect(otpgate.authorizeCalls()).toBe(before + 2);
  });

  it('never caches a refusal', async () => {
    const app = await start();
    const before = otpgate.authorizeCalls();
    await redeem(app, { 'X-OTP-Session': 'ots_forged' });
    await redeem(app, { 'X-OTP-Session': 'ots_forged' });
    expect(otpgate.authorizeCalls()).toBe(before + 2);
  });

  it('asks again once cacheTtlMs has passed, and every time with cacheTtlMs 0', async () => {
    const short = await start({ cacheTtlMs: 40 });
    const before = otpgate.authorizeCalls();
    await redeem(short, { 'X-OTP-Session': GOOD_SESSION });
    await new Promise((resolve) => setTimeout(resolve, 80));
    await redeem(short, { 'X-OTP-Session': GOOD_SESSION });
    expect(otpgate.authorizeCalls()).toBe(before + 2);
    const none = await start({ cacheTtlMs: 0 });
    await redeem(none, { 'X-OTP-Session': GOOD_SESSION });
    await redeem(none, { 'X-OTP-Session': GOOD_SESSION });
    expect(otpgate.authorizeCalls()).toBe(before + 4);
  });

  it('fails closed with 503 unavailable when otpgate is down', async () => {
    const down = new OtpgateClient({ apiKey: 'otpg_test_mw', baseUrl: `http://127.0.0.1:${await freePort()}` });
    const app = await start({ client: down });
    const res = await redeem(app, { 'X-OTP-Session': GOOD_SESSION });
    expect(res.status).toBe(503);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'unavailable', status: 503 });
  });

  it('fails closed with 503 when otpgate answers 5xx or does not accept the key', async () => {
    const app = await start();
    otpgate.override = { status: 500, raw: 'Internal Server Error' };
    expect((await redeem(app, { 'X-OTP-Session': GOOD_SESSION })).status).toBe(503);
    otpgate.override = null;
    const badKey = await start({ client: new OtpgateClient({ apiKey: 'otpg_test_wrong', baseUrl: otpgate.url }) });
    const res = await redeem(badKey, { 'X-OTP-Session': GOOD_SESSION });
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.body)).not.toContain('bad key');
  });

  it('passes a 429 on with Retry-After', async () => {
    const app = await start();
    otpgate.override = { status: 429, body: problemBody('rate-limit-exceeded', 429, 'slow down', { retry_after: 7 }), headers: { 'retry-after': '7' } };
    const res = await fetch(`${app.url}/redeem`, { method: 'POST', headers: { 'X-OTP-Session': GOOD_SESSION } });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await res.json()).toMatchObject({ type: 'rate-limit-exceeded', retry_after: 7 });
  });
});
