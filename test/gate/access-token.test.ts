import { execFileSync } from 'node:child_process';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectFor } from '../../src/tokens/access-token.js';
import { api, createIntegration, latestCode, startRuntime, type TestRuntime } from '../helpers/runtime.js';

let rt: TestRuntime;
beforeAll(async () => {
  rt = await startRuntime({ env: { OTPGATE_PUBLIC_URL: 'https://otp.example.com' } });
});
afterAll(async () => rt.dispose());

async function approve(key: string, identifier: string, action = 'sign_in'): Promise<Record<string, unknown>> {
  const client = api(rt.app, key);
  expect((await client.post('/v1/verifications', { identifier, action })).statusCode).toBe(201);
  const res = await client.post('/v1/verifications/check', { identifier, code: await latestCode(rt, key, identifier) });
  expect(res.statusCode).toBe(200);
  return res.json() as Record<string, unknown>;
}

async function jwks(): Promise<JSONWebKeySet> {
  const res = await rt.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  expect(res.statusCode).toBe(200);
  return res.json() as JSONWebKeySet;
}

describe('access tokens (policy access_token.enabled)', () => {
  it('are absent by default: expires_in is the session’s', async () => {
    const integration = await createIntegration(rt.app);
    const body = await approve(integration.testKey, 'plain@example.com');
    expect(body.access_token).toBeUndefined();
    expect(body.expires_in).toBe(1800);
  });

  it('a check returns an EdDSA JWT that verifies against /.well-known/jwks.json with the documented claims', async () => {
    const integration = await createIntegration(rt.app, { policy: { access_token: { enabled: true, ttl_s: 600, scopes: ['user_profile', 'update_bank_details'] } } });
    const body = await approve(integration.testKey, 'Ana@Example.com', 'redemption');
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'redemption user_profile update_bank_details' });
    const token = body.access_token as string;
    const header = decodeProtectedHeader(token);
    expect(header.alg).toBe('EdDSA');
    expect(header.kid).toMatch(/^sk_/);
    const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks()), {
      issuer: 'https://otp.example.com',
      audience: `${integration.id}:test`,
      algorithms: ['EdDSA'],
    });
    expect(payload.scope).toBe('redemption user_profile update_bank_details');
    expect(payload.sub).toBe(subjectFor(rt.services.serverSecret, integration.id, 'test', 'Ana@example.com'));
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(payload.jti).toMatch(/^jti_/);
    expect(payload.sub).not.toContain('Ana');
  });

  it('the subject is stable for one identifier and differs across identifiers and integrations', async () => {
    const a = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const b = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const sub = async (key: string, id: string) => (await jwtVerify((await approve(key, id)).access_token as string, createLocalJWKSet(await jwks()))).payload.sub;
    const first = await sub(a.testKey, 'same@example.com');
    expect(await sub(a.testKey, 'same@example.com')).toBe(first);
    expect(await sub(a.testKey, 'other@example.com')).not.toBe(first);
    expect(await sub(b.testKey, 'same@example.com')).not.toBe(first);
  });

  it('keeps verifying old tokens after a key rotation, and signs new ones with the new key', async () => {
    const integration = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const before = (await approve(integration.testKey, 'rotate@example.com')).access_token as string;
    const oldKid = decodeProtectedHeader(before).kid;
    const newKid = await rt.services.signingKeys.rotate();
    expect(newKid).not.toBe(oldKid);
    const after = (await approve(integration.testKey, 'rotate2@example.com')).access_token as string;
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    const set = await jwks();
    expect(set.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    for (const token of [before, after]) await expect(jwtVerify(token, createLocalJWKSet(set), { audience: `${integration.id}:test` })).resolves.toBeTruthy();
    expect(JSON.stringify(set)).not.toMatch(/"d":/); // never a private part
  });

  it('`otpgate signing-keys rotate` rotates the keys of a data dir from the CLI', async () => {
    const beforeKids = (await jwks()).keys.map((k) => k.kid);
    const out = execFileSync('node', ['dist/cli/index.js', 'signing-keys', 'rotate'], {
      env: { ...process.env, OTPGATE_DATA_DIR: rt.dir, OTPGATE_DATABASE_URL: rt.config.databaseUrl, OTPGATE_ADMIN_TOKEN: 'x'.repeat(32), ...(rt.config.serverSecret ? { OTPGATE_SECRET: rt.config.serverSecret } : {}) },
      encoding: 'utf8',
    });
    const { active_kid, published } = JSON.parse(out) as { active_kid: string; published: string[] };
    expect(beforeKids).not.toContain(active_kid);
    expect(published).toEqual(expect.arrayContaining([active_kid, ...beforeKids]));
  });
});
