import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtpgateClient } from '../../packages/client/src/index.js';
import { requireOtp as requireOtpExpress } from '../../packages/client/src/middleware/express.js';
import { requireOtp as requireOtpFastify } from '../../packages/client/src/middleware/fastify.js';
import { createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';

/** otpgate on a real port; a real Express app and a real Fastify app protected by requireOtp('redemption'). */
let rt: TestRuntime;
let otpgateUrl: string;
let client: OtpgateClient;
let integrationId: string;
let expressServer: Server;
let expressUrl: string;
let fastifyApp: FastifyInstance;
let fastifyUrl: string;

beforeAll(async () => {
  rt = await startRuntime({ worker: true });
  otpgateUrl = await rt.app.listen({ host: '127.0.0.1', port: 0 });
  const integration = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
  integrationId = integration.id;
  client = new OtpgateClient({ apiKey: integration.testKey, baseUrl: otpgateUrl });

  const app = express();
  app.post('/redeem', requireOtpExpress('redemption', { client }), (req, res) => {
    res.json({ redeemed: true, by: req.otp?.session?.identifier ?? null });
  });
  app.post('/redeem-offline', requireOtpExpress('redemption', { client, accessToken: { audience: integrationId } }), (_req, res) => {
    res.json({ redeemed: true });
  });
  app.get('/search', requireOtpExpress('search', { client }), (_req, res) => {
    res.json({ results: [] });
  });
  await new Promise<void>((resolve) => {
    expressServer = app.listen(0, '127.0.0.1', () => resolve());
  });
  expressUrl = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`;

  fastifyApp = Fastify();
  fastifyApp.post('/redeem', { preHandler: requireOtpFastify('redemption', { client }) }, async () => ({ redeemed: true }));
  fastifyApp.post('/redeem-offline', { preHandler: requireOtpFastify('redemption', { client, accessToken: { audience: integrationId } }) }, async () => ({ redeemed: true }));
  fastifyUrl = await fastifyApp.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => expressServer.close(() => resolve()));
  await fastifyApp.close();
  await rt.dispose();
});

/** The user flow through the SDK: send, read the sandbox, check. */
async function verify(identifier: string): Promise<{ session: string; accessToken: string }> {
  const sent = await client.verifications.create({ identifier, action: 'redemption' });
  expect(sent.ok).toBe(true);
  let code: string | null | undefined;
  for (let i = 0; i < 50 && !code; i++) {
    const messages = await client.sandbox.messages({ to: identifier });
    code = messages.ok ? messages.data.data[0]?.code : undefined;
    if (!code) await new Promise((r) => setTimeout(r, 50));
  }
  const checked = await client.verifications.check({ identifier, code: code as string });
  if (!checked.ok) throw new Error(JSON.stringify(checked.problem));
  return { session: checked.data.otp_session, accessToken: checked.data.access_token as string };
}

describe.each([
  ['Express', () => expressUrl],
  ['Fastify', () => fastifyUrl],
])('requireOtp("redemption") in a real %s app against otpgate on a port', (_name, url) => {
  it('refuses without a session (403 otp-required) and with a bogus one', async () => {
    const none = await fetch(`${url()}/redeem`, { method: 'POST' });
    expect(none.status).toBe(403);
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    expect(((await none.json()) as { type: string }).type).toBe('otp-required');
    const bogus = await fetch(`${url()}/redeem`, { method: 'POST', headers: { 'x-otp-session': 'otps_' + 'x'.repeat(43) } });
    expect(bogus.status).toBe(403);
  });

  it('allows with the session a check returned, and refuses again once it is revoked', async () => {
    const { session } = await verify(`redeem-${_name.toLowerCase()}@example.com`);
    const allowed = await fetch(`${url()}/redeem`, { method: 'POST', headers: { 'x-otp-session': session } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toMatchObject({ redeemed: true });
    expect((await client.sessions.revoke(session)).ok).toBe(true);
    // The middleware caches allowed answers briefly (5 s by default); a fresh session-less call is refused.
    expect((await fetch(`${url()}/redeem`, { method: 'POST' })).status).toBe(403);
  });

  it('verifies an access token offline against otpgate’s JWKS', async () => {
    const { accessToken } = await verify(`token-${_name.toLowerCase()}@example.com`);
    const ok = await fetch(`${url()}/redeem-offline`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } });
    expect(ok.status).toBe(200);
    const tampered = `${accessToken.slice(0, -4)}AAAA`;
    expect((await fetch(`${url()}/redeem-offline`, { method: 'POST', headers: { authorization: `Bearer ${tampered}` } })).status).toBe(403);
    expect((await fetch(`${url()}/redeem-offline`, { method: 'POST' })).status).toBe(403);
  });
});

it('lets an action the policy does not gate through without a session', async () => {
  const res = await fetch(`${expressUrl}/search`);
  expect(res.status).toBe(200);
});

it('fails closed (503) when otpgate cannot be reached', async () => {
  const down = new OtpgateClient({ apiKey: 'otpg_test_' + 'x'.repeat(32), baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 });
  const app = Fastify();
  app.post('/redeem', { preHandler: requireOtpFastify('redemption', { client: down }) }, async () => ({ redeemed: true }));
  const res = await app.inject({ method: 'POST', url: '/redeem', headers: { 'x-otp-session': 'otps_' + 'y'.repeat(43) } });
  expect(res.statusCode).toBe(503);
  await app.close();
});
