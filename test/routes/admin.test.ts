import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { ADMIN_TOKEN, api, createIntegration, startRuntime } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem, phone, send, useRuntime, type IssuedKey } from './support.js';

interface KeyView {
  id: string;
  mode: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

interface IntegrationBody {
  id: string;
  name: string;
  trust_level: string;
  policy: { code: { length: number }; require_otp_for: Record<string, boolean> };
  created_at: string;
  updated_at: string;
  keys?: KeyView[];
}

interface CreatedBody extends Omit<IntegrationBody, 'keys'> {
  keys: { test: IssuedKey; live: IssuedKey };
}

const START = Date.UTC(2026, 3, 1, 8);
// Shared by the tests, so its clock never moves; a test that moves time builds its own runtime.
const runtime = useRuntime({ clock: frozenClock(START) });
const URL = '/admin/v1/integrations';

describe('operator auth', () => {
  it('answers 401 invalid-api-key without a token', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: URL });
    expectProblem(res, 401, 'invalid-api-key');
  });

  it('answers 401 invalid-api-key with a wrong token, an API key, or the token in X-API-Key', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await admin(rt.app, 'wrong-token-0123456789abcdef').get(URL), 401, 'invalid-api-key');
    expectProblem(await admin(rt.app, `${ADMIN_TOKEN}x`).get(URL), 401, 'invalid-api-key');
    expectProblem(await admin(rt.app, integration.testKey).get(URL), 401, 'invalid-api-key');
    expectProblem(await rt.app.inject({ method: 'GET', url: URL, headers: { 'x-api-key': ADMIN_TOKEN } }), 401, 'invalid-api-key');
    const create = await admin(rt.app, 'wrong-token-0123456789abcdef').post(URL, { name: 'Nope' });
    expectProblem(create, 401, 'invalid-api-key');
  });

  it('does not accept the admin token as an integration key', async () => {
    expectProblem(await api(runtime().app, ADMIN_TOKEN).get('/v1/policy'), 401, 'invalid-api-key');
  });
});

describe('POST /admin/v1/integrations', () => {
  it('creates an integration with a test and a live key and their signing secrets', async () => {
    const res = await admin(runtime().app).post(URL, { name: 'Acme Shop', trust_level: 'relaxed', policy: { code: { length: 8 } } });
    const body = expectJson<CreatedBody>(res, 201);
    expect(body.id).toMatch(/^int_[0-9A-Za-z]+$/);
    expect(body).toMatchObject({ name: 'Acme Shop', trust_level: 'relaxed' });
    expect(body.policy.code.length).toBe(8);
    expect(body.keys.test.key).toMatch(/^otpg_test_[0-9A-Za-z]{32}$/);
    expect(body.keys.live.key).toMatch(/^otpg_live_[0-9A-Za-z]{32}$/);
    expect(body.keys.test).toMatchObject({ mode: 'test' });
    expect(body.keys.live).toMatchObject({ mode: 'live' });
    expect(body.keys.test.id).toMatch(/^key_/);
    expect(body.keys.live.id).toMatch(/^key_/);
    expect(body.keys.test.signing_secret.length).toBeGreaterThanOrEqual(32);
    expect(body.keys.live.signing_secret.length).toBeGreaterThanOrEqual(32);
    expect(body.keys.test.signing_secret).not.toBe(body.keys.live.signing_secret);
    // Both keys work right away.
    expectJson(await api(runtime().app, body.keys.test.key).get('/v1/policy'), 200);
    expectJson(await api(runtime().app, body.keys.live.key).get('/v1/policy'), 200);
  });

  it('refuses a missing name, an unknown trust level and unknown fields', async () => {
    const rt = runtime();
    expect(expectProblem(await admin(rt.app).post(URL, {}), 400, 'validation-error').errors).toHaveProperty('name');
    expect(expectProblem(await admin(rt.app).post(URL, { name: 'X', trust_level: 'paranoid' }), 400, 'validation-error').errors).toHaveProperty('trust_level');
    expect(expectProblem(await admin(rt.app).post(URL, { name: 'X', colour: 'blue' }), 400, 'validation-error').errors).toHaveProperty('colour');
    expectProblem(await admin(rt.app).post(URL, { name: '   ' }), 400, 'validation-error');
  });
});

describe('GET /admin/v1/integrations', () => {
  it('never returns key secrets, only their prefix', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const secrets = integration.body as unknown as CreatedBody;
    const res = await admin(rt.app).get(`${URL}/${integration.id}`);
    const body = expectJson<IntegrationBody>(res, 200);
    expect(body.id).toBe(integration.id);
    expect(body.keys).toHaveLength(2);
    for (const k of body.keys ?? []) {
      expect(Object.keys(k).sort()).toEqual(['created_at', 'id', 'mode', 'prefix', 'revoked_at']);
      expect(k.revoked_at).toBeNull();
    }
    const byMode = Object.fromEntries((body.keys ?? []).map((k) => [k.mode, k]));
    expect(secrets.keys.test.key.startsWith(byMode.test?.prefix ?? 'missing')).toBe(true);
    expect(secrets.keys.live.key.startsWith(byMode.live?.prefix ?? 'missing')).toBe(true);
    expect(byMode.test?.prefix.length).toBeLessThan(secrets.keys.test.key.length);
    for (const secret of [secrets.keys.test.key, secrets.keys.live.key, secrets.keys.test.signing_secret, secrets.keys.live.signing_secret]) {
      expect(res.body).not.toContain(secret);
    }
    const list = await admin(rt.app).get(`${URL}?limit=100`);
    for (const secret of [secrets.keys.test.key, secrets.keys.live.key, secrets.keys.test.signing_secret]) expect(list.body).not.toContain(secret);
  });

  it('pages through three integrations newest first with limit=1 and next_cursor', async () => {
    // A runtime of its own, so these three are the only integrations.
    const own = new ManualClock(Date.UTC(2026, 5, 1));
    const rt = await startRuntime({ clock: own });
    try {
      const created: string[] = [];
      for (const name of ['Page A', 'Page B', 'Page C']) {
        own.advance(1000);
        created.push((await createIntegration(rt.app, { name })).id);
      }
      const seen: string[] = [];
      const cursors: (string | null)[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 3; page++) {
        const url: string = cursor === null ? `${URL}?limit=1` : `${URL}?limit=1&cursor=${encodeURIComponent(cursor)}`;
        const body = expectJson<{ data: IntegrationBody[]; next_cursor: string | null }>(await admin(rt.app).get(url), 200);
        expect(body.data).toHaveLength(1);
        seen.push(body.data[0]?.id ?? '');
        cursor = body.next_cursor;
        cursors.push(cursor);
      }
      expect(seen).toEqual([...created].reverse());
      expect(cursors.map((c) => typeof c)).toEqual(['string', 'string', 'object']);
      expect(cursors[2]).toBeNull();
    } finally {
      await rt.dispose();
    }
  });

  it('ends with next_cursor null on the last page', async () => {
    const rt = runtime();
    // Its own integrations (other tests may add more), so there is more than one page of 2.
    for (const name of ['Last A', 'Last B', 'Last C']) await createIntegration(rt.app, { name });
    const all = expectJson<{ data: IntegrationBody[]; next_cursor: string | null }>(await admin(rt.app).get(`${URL}?limit=100`), 200);
    expect(all.next_cursor).toBeNull();
    const count = all.data.length;
    expect(count).toBeGreaterThanOrEqual(3);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = cursor === null ? `${URL}?limit=2` : `${URL}?limit=2&cursor=${encodeURIComponent(cursor)}`;
      const page = expectJson<{ data: IntegrationBody[]; next_cursor: string | null }>(await admin(rt.app).get(url), 200);
      ids.push(...page.data.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(ids).toEqual(all.data.map((i) => i.id));
  });

  it('answers 400 for an invalid cursor or limit', async () => {
    const rt = runtime();
    expectProblem(await admin(rt.app).get(`${URL}?cursor=not-a-cursor`), 400, 'validation-error');
    expectProblem(await admin(rt.app).get(`${URL}?cursor=${Buffer.from('{"t":"x"}').toString('base64url')}`), 400, 'validation-error');
    expectProblem(await admin(rt.app).get(`${URL}?limit=0`), 400, 'validation-error');
    expectProblem(await admin(rt.app).get(`${URL}?limit=101`), 400, 'validation-error');
  });

  it('answers 404 for an unknown integration', async () => {
    expectProblem(await admin(runtime().app).get(`${URL}/int_doesnotexist0000`), 404, 'not-found');
  });
});

describe('PATCH /admin/v1/integrations/{id}', () => {
  it('renames and changes the trust level', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const integration = await createIntegration(rt.app, { name: 'Before' });
    clock.advance(5000);
    const res = await admin(rt.app).patch(`${URL}/${integration.id}`, { name: 'After', trust_level: 'trusted' });
    const body = expectJson<IntegrationBody>(res, 200);
    expect(body).toMatchObject({ id: integration.id, name: 'After', trust_level: 'trusted' });
    expect(body.policy.require_otp_for).toEqual({ enrollment: false, redemption: false, coupon_usage: false });
    expect(Date.parse(body.updated_at)).toBeGreaterThan(Date.parse(body.created_at));
    expect(expectJson<IntegrationBody>(await admin(rt.app).get(`${URL}/${integration.id}`), 200)).toMatchObject({ name: 'After', trust_level: 'trusted' });
    expect(expectJson<{ trust_level: string }>(await api(rt.app, integration.testKey).get('/v1/policy'), 200).trust_level).toBe('trusted');
  });

  it('answers 404 for an unknown integration and 400 for a bad body', async () => {
    const rt = runtime();
    expectProblem(await admin(rt.app).patch(`${URL}/int_doesnotexist0000`, { name: 'X' }), 404, 'not-found');
    const integration = await createIntegration(rt.app);
    expectProblem(await admin(rt.app).patch(`${URL}/${integration.id}`, { trust_level: 'none' }), 400, 'validation-error');
    expectProblem(await admin(rt.app).patch(`${URL}/${integration.id}`, { name: '' }), 400, 'validation-error');
  });
});

describe('DELETE /admin/v1/integrations/{id}', () => {
  it('deletes: GET is 404 afterwards and its keys answer 401 invalid-api-key', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const other = await createIntegration(rt.app);
    const res = await admin(rt.app).delete(`${URL}/${integration.id}`);
    expect(expectJson<{ id: string; deleted: boolean }>(res, 200)).toEqual({ id: integration.id, deleted: true });
    expectProblem(await admin(rt.app).get(`${URL}/${integration.id}`), 404, 'not-found');
    expectProblem(await api(rt.app, integration.testKey).get('/v1/policy'), 401, 'invalid-api-key');
    expectProblem(await api(rt.app, integration.liveKey).get('/v1/policy'), 401, 'invalid-api-key');
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: phone() }), 401, 'invalid-api-key');
    const list = expectJson<{ data: IntegrationBody[] }>(await admin(rt.app).get(`${URL}?limit=100`), 200);
    expect(list.data.map((i) => i.id)).not.toContain(integration.id);
    expect(list.data.map((i) => i.id)).toContain(other.id);
    expectJson(await api(rt.app, other.testKey).get('/v1/policy'), 200);
    expectProblem(await admin(rt.app).delete(`${URL}/${integration.id}`), 404, 'not-found');
  });
});

describe('keys', () => {
  it('issues a live key that works for /v1 calls in live mode', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const res = await admin(rt.app).post(`${URL}/${integration.id}/keys`, { mode: 'live' });
    const key = expectJson<IssuedKey>(res, 201);
    expect(key.key).toMatch(/^otpg_live_[0-9A-Za-z]{32}$/);
    expect(key.id).toMatch(/^key_/);
    expect(key.signing_secret.length).toBeGreaterThanOrEqual(32);
    expectJson(await api(rt.app, key.key).get('/v1/policy'), 200);
    // It is a live key: the sandbox is test-only and no live provider is configured here.
    expectProblem(await api(rt.app, key.key).get('/v1/sandbox/messages'), 403, 'test-mode-only');
    expectProblem(await api(rt.app, key.key).post('/v1/verifications', { identifier: phone() }), 422, 'channel-unavailable');
    const keys = expectJson<IntegrationBody>(await admin(rt.app).get(`${URL}/${integration.id}`), 200).keys ?? [];
    expect(keys.map((k) => k.id)).toContain(key.id);
    expect(keys).toHaveLength(3);
  });

  it('issues a test key that sees the same test data as the first test key', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const key = expectJson<IssuedKey>(await admin(rt.app).post(`${URL}/${integration.id}/keys`, { mode: 'test' }), 201);
    expect(key.key).toMatch(/^otpg_test_/);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    expectJson(await api(rt.app, key.key).get(`/v1/verifications/${v.id}`), 200);
  });

  it('revokes a key: that key answers 401, the others still work', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const extra = expectJson<IssuedKey>(await admin(rt.app).post(`${URL}/${integration.id}/keys`, { mode: 'test' }), 201);
    const res = await admin(rt.app).delete(`${URL}/${integration.id}/keys/${extra.id}`);
    const revoked = expectJson<KeyView>(res, 200);
    expect(revoked.id).toBe(extra.id);
    expect(revoked.revoked_at).toEqual(expect.any(String));
    expectProblem(await api(rt.app, extra.key).get('/v1/policy'), 401, 'invalid-api-key');
    expectJson(await api(rt.app, integration.testKey).get('/v1/policy'), 200);
    expectJson(await api(rt.app, integration.liveKey).get('/v1/policy'), 200);
    // Revoking it again, or a key of another integration, is 404.
    expectProblem(await admin(rt.app).delete(`${URL}/${integration.id}/keys/${extra.id}`), 404, 'not-found');
    const other = await createIntegration(rt.app);
    const otherKeyId = (other.body as unknown as CreatedBody).keys.test.id;
    expectProblem(await admin(rt.app).delete(`${URL}/${integration.id}/keys/${otherKeyId}`), 404, 'not-found');
    expectJson(await api(rt.app, other.testKey).get('/v1/policy'), 200);
  });

  it('answers 404 when revoking an unknown key', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await admin(rt.app).delete(`${URL}/${integration.id}/keys/key_doesnotexist0000`), 404, 'not-found');
    expectProblem(await admin(rt.app).delete(`${URL}/int_doesnotexist0000/keys/key_doesnotexist0000`), 404, 'not-found');
  });

  it('refuses an unknown mode, and keys for an unknown integration', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await admin(rt.app).post(`${URL}/${integration.id}/keys`, { mode: 'prod' }), 400, 'validation-error');
    expectProblem(await admin(rt.app).post(`${URL}/int_doesnotexist0000/keys`, { mode: 'test' }), 404, 'not-found');
  });
});

describe('integration auth', () => {
  it('answers 401 invalid-api-key for a missing key', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: '/v1/policy' });
    expectProblem(res, 401, 'invalid-api-key');
  });

  it('answers 401 invalid-api-key for a malformed key', async () => {
    const rt = runtime();
    for (const key of ['nope', 'otpg_test_short', 'otpg_prod_0123456789abcdefghijABCDEFGHIJ01', 'Bearer']) {
      expectProblem(await api(rt.app, key).get('/v1/policy'), 401, 'invalid-api-key');
    }
  });

  it('answers 401 invalid-api-key for a well-formed unknown key', async () => {
    const res = await api(runtime().app, `otpg_test_${'A'.repeat(32)}`).post('/v1/verifications', { identifier: phone() });
    expectProblem(res, 401, 'invalid-api-key');
  });

  it('accepts Authorization: Bearer <key> like X-API-Key', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const res = await rt.app.inject({ method: 'POST', url: '/v1/verifications', headers: { authorization: `Bearer ${integration.testKey}` }, payload: { identifier: phone() } });
    const v = expectJson<{ id: string }>(res, 201);
    // The verification belongs to the same integration and mode as with X-API-Key.
    expectJson(await api(rt.app, integration.testKey).get(`/v1/verifications/${v.id}`), 200);
    const wrong = await rt.app.inject({ method: 'GET', url: '/v1/policy', headers: { authorization: `Bearer otpg_test_${'B'.repeat(32)}` } });
    expectProblem(wrong, 401, 'invalid-api-key');
    const basic = await rt.app.inject({ method: 'GET', url: '/v1/policy', headers: { authorization: `Basic ${integration.testKey}` } });
    expectProblem(basic, 401, 'invalid-api-key');
  });
});
