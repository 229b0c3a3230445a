import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtpgateClient } from '../../packages/client/src/index.js';
import { requireOtp as requireOtpExpress } from '../../packages/client/src/middleware/express.js';
import { requireOtp as requireOtpFastify } from '../../packages/client/src/middleware/fastify.js';
import { newId } from '../../src/domain/ids.js';
import { integrationPolicy } from '../../src/services/integrations.js';
import { introspectToken } from '../../src/services/sessions.js';
import { insertSession } from '../../src/store/sessions-repo.js';
import { issueAccessToken, subjectFor } from '../../src/tokens/access-token.js';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { ADMIN_TOKEN, api, createIntegration, latestCode, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';

/**
 * Issue 10: test and live access tokens never mix. A test-mode token is refused by a standard-claims
 * verifier configured for live and by the SDK's live gate; `sub` differs by mode; and
 * `POST /v1/tokens/introspect` answers active only for its own integration, mode and live session.
 */
const ISSUER = 'https://otp.example.com';
// The runtime the tests share never sees time move (jose checks `exp` against the wall clock, hence now);
// the test that moves time builds its own runtime (runtimeWithClock).
const START = Date.now();
let rt: TestRuntime;
let otpgateUrl: string;
let integration: TestIntegration;
let expressServer: Server;
let expressUrl: string;
let fastifyApp: FastifyInstance;
let fastifyUrl: string;
let n = 0;

beforeAll(async () => {
  rt = await startRuntime({ clock: frozenClock(START), env: { OTPGATE_PUBLIC_URL: ISSUER } });
  otpgateUrl = await rt.app.listen({ host: '127.0.0.1', port: 0 });
  integration = await createIntegration(rt.app, { policy: { access_token: { enabled: true, ttl_s: 600 } } });
  // The gate of a live app: its client holds the integration's *live* key.
  const live = new OtpgateClient({ apiKey: integration.liveKey, baseUrl: otpgateUrl });
  const accessToken = { audience: integration.id, issuer: ISSUER };

  const app = express();
  app.post('/redeem', requireOtpExpress('redemption', { client: live, accessToken }), (req, res) => {
    res.json({ redeemed: true, mode: req.otp?.token?.mode });
  });
  await new Promise<void>((resolve) => {
    expressServer = app.listen(0, '127.0.0.1', () => resolve());
  });
  expressUrl = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`;

  fastifyApp = Fastify();
  fastifyApp.post('/redeem', { preHandler: requireOtpFastify('redemption', { client: live, accessToken }) }, async (request) => ({ redeemed: true, mode: request.otp?.token?.mode }));
  fastifyUrl = await fastifyApp.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => expressServer.close(() => resolve()));
  await fastifyApp.close();
  await rt.dispose();
});

/** A test-mode code sent and checked: the check's body (with `access_token`, `otp_session`). */
async function approveTest(key: string, identifier = `user${++n}@example.com`, on: TestRuntime = rt): Promise<{ token: string; session: string; identifier: string }> {
  const client = api(on.app, key);
  expect((await client.post('/v1/verifications', { identifier, action: 'redemption' })).statusCode).toBe(201);
  const res = await client.post('/v1/verifications/check', { identifier, code: await latestCode(on, key, identifier) });
  expect(res.statusCode).toBe(200);
  const body = res.json() as { access_token: string; otp_session: string };
  return { token: body.access_token, session: body.otp_session, identifier };
}

/**
 * A live-mode token as a live check issues it, with its live session row (live codes need a real
 * provider, which this suite does not run).
 */
async function liveToken(of: TestIntegration, identifier: string): Promise<string> {
  const now = rt.services.clock.now();
  const sessionId = newId('ses', rt.services.random);
  await insertSession(rt.services.store.db, {
    id: sessionId,
    integration_id: of.id,
    mode: 'live',
    token_hash: `live-test.${sessionId}`,
    identifier,
    identity_id: null,
    verification_id: 'ver_live',
    action: 'redemption',
    expires_at: now + 1_800_000,
    revoked_at: null,
    created_at: now,
  });
  const policy = integrationPolicy({ trust_level: 'relaxed', policy_json: JSON.stringify({ access_token: { enabled: true, ttl_s: 600 } }) });
  const issued = await issueAccessToken(rt.services.signingKeys, rt.services.random, {
    issuer: rt.services.issuer,
    subject: subjectFor(rt.services.serverSecret, of.id, 'live', identifier),
    integrationId: of.id,
    mode: 'live',
    sessionId,
    action: 'redemption',
    policy,
    nowMs: now,
  });
  return issued.access_token;
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await rt.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as JSONWebKeySet;
}

const introspect = async (key: string, token: string, on: TestRuntime = rt) => {
  const res = await api(on.app, key).post('/v1/tokens/introspect', { token });
  return { status: res.statusCode, body: res.json() as Record<string, unknown>, cacheControl: res.headers['cache-control'] };
};

describe('test and live access tokens never mix', () => {
  it('a standard-claims verifier (jose, JWKS, iss, aud) configured for live refuses a test token', async () => {
    const { token } = await approveTest(integration.testKey);
    const keys = createLocalJWKSet(await jwks());
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ aud: `${integration.id}:test`, mode: 'test', iss: ISSUER });
    expect(claims.sid).toMatch(/^ses_/);
    await expect(jwtVerify(token, keys, { issuer: ISSUER, audience: `${integration.id}:live`, algorithms: ['EdDSA'] })).rejects.toThrow(/aud/);
    // …and with the bare integration id, the aud of tokens before modes were told apart.
    await expect(jwtVerify(token, keys, { issuer: ISSUER, audience: integration.id, algorithms: ['EdDSA'] })).rejects.toThrow(/aud/);
    await expect(jwtVerify(token, keys, { issuer: ISSUER, audience: `${integration.id}:test`, algorithms: ['EdDSA'] })).resolves.toBeTruthy();
    const live = await liveToken(integration, 'aud-live@example.com');
    await expect(jwtVerify(live, keys, { issuer: ISSUER, audience: `${integration.id}:live`, algorithms: ['EdDSA'] })).resolves.toBeTruthy();
    await expect(jwtVerify(live, keys, { issuer: ISSUER, audience: `${integration.id}:test`, algorithms: ['EdDSA'] })).rejects.toThrow(/aud/);
  });

  it.each([
    ['Express', () => expressUrl],
    ['Fastify', () => fastifyUrl],
  ])('the SDK’s requireOtp with the live client (%s) refuses a test token and lets a live one through', async (_name, url) => {
    const { token } = await approveTest(integration.testKey);
    const refused = await fetch(`${url()}/redeem`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { type: string }).type).toBe('otp-required');
    const allowed = await fetch(`${url()}/redeem`, { method: 'POST', headers: { authorization: `Bearer ${await liveToken(integration, `gate-${_name}@example.com`)}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ redeemed: true, mode: 'live' });
  });

  it('`sub` of an identifier without an identity differs by mode (and names test mode)', async () => {
    const identifier = 'same-sub@example.com';
    const testSub = decodeJwt((await approveTest(integration.testKey, identifier)).token).sub;
    const liveSub = decodeJwt(await liveToken(integration, identifier)).sub;
    expect(testSub).toMatch(/^sub_test_[0-9a-f]{32}$/);
    expect(liveSub).toMatch(/^sub_[0-9a-f]{32}$/);
    expect(testSub).toBe(subjectFor(rt.services.serverSecret, integration.id, 'test', identifier));
    expect(liveSub).not.toBe(testSub);
    expect(liveSub!.slice(-32)).not.toBe(testSub!.slice(-32)); // not just a prefix apart
  });
});

describe('POST /v1/tokens/introspect', () => {
  it('answers the right token active with its claims (RFC 7662 shape), Cache-Control: no-store', async () => {
    const { token } = await approveTest(integration.testKey);
    const claims = decodeJwt(token);
    const res = await introspect(integration.testKey, token);
    expect(res.status).toBe(200);
    expect(res.cacheControl).toBe('no-store');
    expect(res.body).toEqual({
      active: true,
      scope: 'redemption',
      sub: claims.sub,
      aud: `${integration.id}:test`,
      exp: claims.exp,
      iat: claims.iat,
      mode: 'test',
      client_id: integration.id,
    });
  });

  it('a live key sees a live token active; each mode sees the other’s inactive', async () => {
    const live = await liveToken(integration, 'introspect-live@example.com');
    expect((await introspect(integration.liveKey, live)).body).toMatchObject({ active: true, mode: 'live', aud: `${integration.id}:live` });
    expect((await introspect(integration.testKey, live)).body).toEqual({ active: false });
    const { token } = await approveTest(integration.testKey);
    const other = await introspect(integration.liveKey, token);
    expect(other).toMatchObject({ status: 200, body: { active: false }, cacheControl: 'no-store' });
    expect(Object.keys(other.body)).toEqual(['active']);
  });

  it('another integration’s token is inactive', async () => {
    const other = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const { token } = await approveTest(other.testKey);
    expect((await introspect(other.testKey, token)).body.active).toBe(true);
    expect((await introspect(integration.testKey, token)).body).toEqual({ active: false });
  });

  it('is inactive once its OTP session is revoked (DELETE /v1/sessions/current)', async () => {
    const { token, session } = await approveTest(integration.testKey);
    expect((await introspect(integration.testKey, token)).body.active).toBe(true);
    const revoked = await rt.app.inject({ method: 'DELETE', url: '/v1/sessions/current', headers: { 'x-api-key': integration.testKey, 'x-otp-session': session } });
    expect(revoked.statusCode).toBe(200);
    expect((await introspect(integration.testKey, token)).body).toEqual({ active: false });
  });

  it('is inactive for a tampered token, a token from another signer, an expired one, and garbage', async () => {
    const { rt: own, clock } = await runtimeWithClock(START, { env: { OTPGATE_PUBLIC_URL: ISSUER } });
    const mine = await createIntegration(own.app, { policy: { access_token: { enabled: true, ttl_s: 600 } } });
    const { token } = await approveTest(mine.testKey, undefined, own);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = decodeJwt(token);
    const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'redemption admin' })).toString('base64url');
    expect((await introspect(mine.testKey, `${header}.${forged}.${signature}`, own)).body).toEqual({ active: false });
    expect((await introspect(mine.testKey, `${header}.${payload}.${signature.slice(0, -4)}AAAA`, own)).body).toEqual({ active: false });
    expect((await introspect(mine.testKey, 'not-a-jwt', own)).body).toEqual({ active: false });
    expect((await introspect(mine.testKey, token, own)).body.active).toBe(true);
    clock.advance(601_000); // past exp (ttl_s 600)
    expect((await introspect(mine.testKey, token, own)).body).toEqual({ active: false });
  });

  it('needs an API key, and a body with a token', async () => {
    expect((await rt.app.inject({ method: 'POST', url: '/v1/tokens/introspect', payload: { token: 'x' } })).statusCode).toBe(401);
    expect((await api(rt.app, integration.testKey).post('/v1/tokens/introspect', {})).statusCode).toBe(400);
  });

  it('after the operator deletes the integration, its key is refused (401) and the token is never active', async () => {
    const doomed = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const { token } = await approveTest(doomed.testKey);
    expect((await introspect(doomed.testKey, token)).body.active).toBe(true);
    const deleted = await rt.app.inject({ method: 'DELETE', url: `/admin/v1/integrations/${doomed.id}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(deleted.statusCode).toBe(200);
    expect((await introspect(doomed.testKey, token)).status).toBe(401);
    expect((await introspect(integration.testKey, token)).body).toEqual({ active: false });
    // Another process may still hold the key in its cache for a few seconds: the service reads the store.
    const stale = { integrationId: doomed.id, name: 'Test', mode: 'test', keyId: 'key_stale', policy: integrationPolicy({ trust_level: 'relaxed', policy_json: '{}' }) } as const;
    expect(await introspectToken(rt.services, stale, token)).toEqual({ active: false });
  });

  it('the SDK’s client.tokens.introspect against the real server', async () => {
    const client = new OtpgateClient({ apiKey: integration.testKey, baseUrl: otpgateUrl });
    const liveClient = new OtpgateClient({ apiKey: integration.liveKey, baseUrl: otpgateUrl });
    const { token, session } = await approveTest(integration.testKey);
    const active = await client.tokens.introspect(token);
    expect(active).toMatchObject({ ok: true, data: { active: true, mode: 'test', client_id: integration.id, scope: 'redemption' } });
    expect(await liveClient.tokens.introspect(token)).toMatchObject({ ok: true, data: { active: false } });
    expect((await client.sessions.revoke(session)).ok).toBe(true);
    expect(await client.tokens.introspect(token)).toMatchObject({ ok: true, data: { active: false } });
  });
});
