import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OtpgateClient } from './client.js';
import { expressFramework, fastifyFramework, startStubOtpgate, type AppOptions, type RunningApp, type StubOtpgate } from './testing/apps.js';
import { freePort } from './testing/http-stub.js';

const AUDIENCE = 'int_7Hq2';
const ISSUER = 'http://otpgate.test';

let otpgate: StubOtpgate;
let client: OtpgateClient;
let signingKey: CryptoKey;
let strangerKey: CryptoKey;

beforeAll(async () => {
  otpgate = await startStubOtpgate();
  client = new OtpgateClient({ apiKey: 'otpg_test_mw', baseUrl: otpgate.url });
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  signingKey = pair.privateKey;
  strangerKey = (await generateKeyPair('EdDSA')).privateKey;
  otpgate.jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }] };
});
afterAll(() => otpgate.close());

interface TokenSpec {
  scope?: string;
  audience?: string;
  issuer?: string;
  expiresAt?: number;
  key?: CryptoKey;
  alg?: string;
  /** The `mode` claim; null leaves it out. @default 'test' */
  mode?: string | null;
}

/** A token as otpgate issues it in test mode: claims `iss sub aud(int:test) scope mode sid iat exp jti`, EdDSA, kid k1. */
async function token(spec: TokenSpec = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const mode = spec.mode === undefined ? 'test' : spec.mode;
  return new SignJWT({ scope: spec.scope ?? 'redemption coupon_usage', sid: 'ses_1', ...(mode === null ? {} : { mode }) })
    .setProtectedHeader({ alg: spec.alg ?? 'EdDSA', kid: 'k1', typ: 'JWT' })
    .setIssuer(spec.issuer ?? ISSUER)
    .setSubject('+5511987654321')
    .setAudience(spec.audience ?? `${AUDIENCE}:test`)
    .setIssuedAt(now - 10)
    .setExpirationTime(spec.expiresAt ?? now + 600)
    .setJti('jti_1')
    .sign(spec.key ?? signingKey);
}

async function redeem(app: RunningApp, bearer?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` };
  const res = await fetch(`${app.url}/redeem`, { method: 'POST', headers });
  if (res.status !== 200) expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe.each([expressFramework, fastifyFramework])('requireOtp for $name (access-token mode)', (framework) => {
  const apps: RunningApp[] = [];
  const start = async (options: Partial<AppOptions> = {}) => {
    const app = await framework.start({ client, accessToken: { audience: AUDIENCE, issuer: ISSUER }, ...options });
    apps.push(app);
    return app;
  };
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('lets a valid token whose scope has the action through, offline (no authorize call)', async () => {
    const app = await start();
    const before = otpgate.authorizeCalls();
    const res = await redeem(app, await token());
    expect(res.status).toBe(200);
    expect(res.body.otp).toMatchObject({ otpRequired: true, token: { sub: '+5511987654321', aud: `${AUDIENCE}:test`, mode: 'test', scope: 'redemption coupon_usage' } });
    expect(otpgate.authorizeCalls()).toBe(before);
    expect(otpgate.requests.some((r) => r.url === '/.well-known/jwks.json')).toBe(true);
  });

  it('refuses a token without the action in its scope', async () => {
    const app = await start();
    const res = await redeem(app, await token({ scope: 'coupon_usage redemption_extra' }));
    expect(res).toMatchObject({ status: 403, body: { type: 'otp-required', status: 403 } });
  });

  it('refuses a token for another audience', async () => {
    const app = await start();
    expect((await redeem(app, await token({ audience: 'int_other' }))).status).toBe(403);
  });

  it('refuses a token of the other mode: the aud names the mode, and so must the mode claim', async () => {
    const app = await start();
    // A live token (live aud and mode) at a gate whose client holds a test key.
    expect((await redeem(app, await token({ audience: `${AUDIENCE}:live`, mode: 'live' }))).status).toBe(403);
    // The bare integration id as aud (tokens from before modes were told apart).
    expect((await redeem(app, await token({ audience: AUDIENCE }))).status).toBe(403);
    // The test aud, but another mode claim or none.
    expect((await redeem(app, await token({ mode: 'live' }))).body).toMatchObject({ type: 'otp-required', detail: expect.stringContaining('test mode') });
    expect((await redeem(app, await token({ mode: null }))).status).toBe(403);
  });

  it('a gate whose client holds a live key accepts live tokens and refuses test tokens', async () => {
    const live = new OtpgateClient({ apiKey: 'otpg_live_mw', baseUrl: otpgate.url });
    const app = await start({ client: live });
    expect((await redeem(app, await token({ audience: `${AUDIENCE}:live`, mode: 'live' }))).status).toBe(200);
    expect((await redeem(app, await token())).status).toBe(403);
    expect((await redeem(app, await token({ audience: `${AUDIENCE}:live` }))).status).toBe(403);
  });

  it('takes the audience with its mode suffix too, but refuses to start with the other mode’s', async () => {
    const app = await start({ accessToken: { audience: `${AUDIENCE}:test`, issuer: ISSUER } });
    expect((await redeem(app, await token())).status).toBe(200);
    await expect(start({ accessToken: { audience: `${AUDIENCE}:live` } })).rejects.toThrow(/live mode/);
  });

  it('refuses to start without a key whose mode it can tell', async () => {
    const unknown = new OtpgateClient({ apiKey: 'sk_whatever', baseUrl: otpgate.url });
    await expect(start({ client: unknown })).rejects.toThrow(/otpg_live_/);
  });

  it('refuses an expired token', async () => {
    const app = await start();
    expect((await redeem(app, await token({ expiresAt: Math.floor(Date.now() / 1000) - 60 }))).status).toBe(403);
  });

  it('refuses a token from another issuer when issuer is set, and accepts any issuer when it is not', async () => {
    const app = await start();
    const foreign = await token({ issuer: 'https://evil.test' });
    expect((await redeem(app, foreign)).status).toBe(403);
    const anyIssuer = await start({ accessToken: { audience: AUDIENCE } });
    expect((await redeem(anyIssuer, foreign)).status).toBe(200);
  });

  it('refuses a missing, malformed or foreign-signed token', async () => {
    const app = await start();
    expect((await redeem(app)).body).toMatchObject({ type: 'otp-required' });
    expect((await redeem(app, 'not.a.jwt')).status).toBe(403);
    expect((await redeem(app, await token({ key: strangerKey }))).status).toBe(403);
    const [header, payload] = (await token()).split('.');
    expect((await redeem(app, `${header}.${payload}.`)).status).toBe(403);
  });

  it('fails closed with 503 when the JWKS cannot be fetched', async () => {
    const app = await start({ accessToken: { audience: AUDIENCE, jwksUrl: `http://127.0.0.1:${await freePort()}/.well-known/jwks.json` } });
    const res = await redeem(app, await token());
    expect(res).toMatchObject({ status: 503, body: { type: 'unavailable' } });
  });
});
