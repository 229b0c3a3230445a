import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/domain/codes.js';
import { sessionKey } from '../../src/services/sessions.js';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { ADMIN_TOKEN, api, createIntegration, latestCode, startRuntime, type TestRuntime } from '../helpers/runtime.js';

const START = Date.UTC(2026, 5, 1);
let rt: TestRuntime;
let n = 0;
const nextPhone = (): string => `+551199${String(1_000_000 + ++n).slice(1)}0`.slice(0, 14);

// The runtime the tests share never sees time move; a test that moves time builds its own (runtimeWithClock).
beforeAll(async () => {
  rt = await startRuntime({ clock: frozenClock(START) });
});
afterAll(async () => rt.dispose());

/** Session and authorize calls against one runtime. */
function gate(runtime: () => TestRuntime) {
  /** Sends a code to a fresh phone and checks it; returns the session token. */
  async function sessionFor(key: string, identifier = nextPhone(), action = 'redemption'): Promise<{ token: string; identifier: string; body: Record<string, unknown> }> {
    const client = api(runtime().app, key);
    const sent = await client.post('/v1/verifications', { identifier, action });
    expect(sent.statusCode).toBe(201);
    const code = await latestCode(runtime(), key, identifier);
    const checked = await client.post('/v1/verifications/check', { identifier, code });
    expect(checked.statusCode).toBe(200);
    const body = checked.json() as Record<string, unknown>;
    return { token: body.otp_session as string, identifier, body };
  }
  const authorize = (key: string, body: Record<string, unknown>, session?: string) =>
    api(runtime().app, key).post('/v1/authorize', body, session ? { 'x-otp-session': session } : {});
  return { sessionFor, authorize };
}

const { sessionFor, authorize } = gate(() => rt);

describe('policy gate: presets × actions', () => {
  const table = {
    strict: { enrollment: true, redemption: true, coupon_usage: true },
    relaxed: { enrollment: false, redemption: true, coupon_usage: true },
    trusted: { enrollment: false, redemption: false, coupon_usage: false },
  } as const;
  for (const [level, actions] of Object.entries(table)) {
    for (const [action, gated] of Object.entries(actions)) {
      it(`${level}: ${action} ${gated ? 'needs' : 'does not need'} OTP`, async () => {
        const integration = await createIntegration(rt.app, { trust_level: level });
        const res = await authorize(integration.testKey, { action });
        if (gated) {
          expect(res.statusCode).toBe(403);
          expect(res.headers['content-type']).toContain('application/problem+json');
          expect(res.json().type).toBe('otp-required');
        } else {
          expect(res.statusCode).toBe(200);
          expect(res.json()).toEqual({ allowed: true, otp_required: false });
        }
      });
    }
  }

  it('trusted sets trust_partner_validation; ungated actions (search, view_balance, award_points) pass everywhere', async () => {
    const trusted = await createIntegration(rt.app, { trust_level: 'trusted' });
    expect((await api(rt.app, trusted.testKey).get('/v1/policy')).json().trust_partner_validation).toBe(true);
    const strict = await createIntegration(rt.app);
    for (const action of ['search', 'view_balance', 'award_points', 'list_rewards']) {
      expect((await authorize(strict.testKey, { action })).json()).toEqual({ allowed: true, otp_required: false });
    }
  });

  it('a custom action gates, and editing require_otp_for makes the level custom', async () => {
    const integration = await createIntegration(rt.app, { trust_level: 'trusted' });
    const patched = await rt.app.inject({
      method: 'PATCH',
      url: `/admin/v1/integrations/${integration.id}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { policy: { require_otp_for: { change_payout_account: true } } },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().trust_level).toBe('custom');
    expect((await authorize(integration.testKey, { action: 'change_payout_account' })).statusCode).toBe(403);
    expect((await authorize(integration.testKey, { action: 'redemption' })).statusCode).toBe(200);
  });

  it('an integration with OTP switched off gates nothing', async () => {
    const integration = await createIntegration(rt.app, { policy: { otp_enabled: false } });
    expect((await authorize(integration.testKey, { action: 'redemption' })).json()).toEqual({ allowed: true, otp_required: false });
  });
});

describe('OTP sessions', () => {
  it('a session from a check authorizes every gated action for its identifier', async () => {
    const integration = await createIntegration(rt.app);
    const { token, identifier } = await sessionFor(integration.testKey);
    expect(token).toMatch(/^otps_[0-9A-Za-z]{43}$/);
    for (const action of ['redemption', 'coupon_usage', 'enrollment']) {
      const res = await authorize(integration.testKey, { action, identifier }, token);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ allowed: true, otp_required: true, session: { identifier, identity: null } });
    }
    expect((await authorize(integration.testKey, { action: 'redemption' }, token)).statusCode).toBe(200);
  });

  it.each(['missing', 'garbage', 'other identifier', 'other integration', 'other mode'])('refuses a %s session with 403 otp-required', async (kind) => {
    const integration = await createIntegration(rt.app);
    const { token, identifier } = await sessionFor(integration.testKey);
    const other = await createIntegration(rt.app);
    const cases: Record<string, [string, string | undefined, Record<string, unknown>]> = {
      missing: [integration.testKey, undefined, { action: 'redemption' }],
      garbage: [integration.testKey, 'otps_nope', { action: 'redemption' }],
      'other identifier': [integration.testKey, token, { action: 'redemption', identifier: nextPhone() }],
      'other integration': [other.testKey, token, { action: 'redemption', identifier }],
      'other mode': [integration.liveKey, token, { action: 'redemption', identifier }],
    };
    const [key, session, body] = cases[kind] as [string, string | undefined, Record<string, unknown>];
    const res = await authorize(key, body, session);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ type: 'otp-required', status: 403 });
  });

  it('expires after session.ttl_s', async () => {
    const { rt: own, clock } = await runtimeWithClock(START);
    const { sessionFor, authorize } = gate(() => own);
    const integration = await createIntegration(own.app, { policy: { session: { ttl_s: 60 } } });
    const { token } = await sessionFor(integration.testKey);
    clock.advance(59_000);
    expect((await authorize(integration.testKey, { action: 'redemption' }, token)).statusCode).toBe(200);
    clock.advance(1_000);
    expect((await authorize(integration.testKey, { action: 'redemption' }, token)).statusCode).toBe(403);
    expect((await api(own.app, integration.testKey).get('/v1/sessions/current', { 'x-otp-session': token })).statusCode).toBe(403);
  });

  it('GET /v1/sessions/current inspects and DELETE revokes at once', async () => {
    const integration = await createIntegration(rt.app);
    const { token, identifier, body } = await sessionFor(integration.testKey);
    const current = await api(rt.app, integration.testKey).get('/v1/sessions/current', { 'x-otp-session': token });
    expect(current.statusCode).toBe(200);
    expect(current.json()).toMatchObject({ identifier, identity: null, action: 'redemption', verification_id: body.verification_id, expires_at: body.session_expires_at });
    expect((await authorize(integration.testKey, { action: 'redemption' }, token)).statusCode).toBe(200); // now cached
    const revoked = await rt.app.inject({ method: 'DELETE', url: '/v1/sessions/current', headers: { 'x-api-key': integration.testKey, 'x-otp-session': token } });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ revoked: true });
    expect((await authorize(integration.testKey, { action: 'redemption' }, token)).statusCode).toBe(403);
    const again = await rt.app.inject({ method: 'DELETE', url: '/v1/sessions/current', headers: { 'x-api-key': integration.testKey, 'x-otp-session': token } });
    expect(again.statusCode).toBe(403);
  });

  it('stores only a hash of the session token', async () => {
    const integration = await createIntegration(rt.app);
    const { token } = await sessionFor(integration.testKey);
    const rows = await rt.store.db.selectFrom('sessions').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token.slice(5));
  });

  it('validates the authorize body', async () => {
    const integration = await createIntegration(rt.app);
    for (const body of [{}, { action: 'Bad Action' }, { action: 'redemption', identifier: 'nope' }, { action: 'redemption', extra: 1 }]) {
      const res = await authorize(integration.testKey, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().type).toBe('validation-error');
    }
  });
});

describe('session tokens and their stored keys', () => {
  it('issues time-ordered tokens and stores only a key derived from them (time part + SHA-256), never the token', async () => {
    const { rt: own, clock } = await runtimeWithClock(START);
    const { sessionFor } = gate(() => own);
    const integration = await createIntegration(own.app);
    const first = await sessionFor(integration.testKey);
    clock.advance(1000);
    await sessionFor(integration.testKey);
    clock.advance(1000);
    expect(first.token).toMatch(/^otps_[0-9A-Za-z]{43}$/);
    const rows = await own.store.db.selectFrom('sessions').select(['token_hash', 'created_at']).where('integration_id', '=', integration.id).orderBy('created_at').execute();
    expect(rows).toHaveLength(2);
    const [a, b] = rows.map((row) => row.token_hash);
    expect(a).toBe(sessionKey(first.token));
    expect(a).toBe(`${first.token.slice(5, 13)}.${sha256Hex(first.token)}`);
    expect(a && b && a < b).toBe(true); // later sessions sort after earlier ones
    for (const row of rows) expect(row.token_hash).not.toContain(first.token.slice(13));
  });

  it('still honours a session issued before time-ordered keys (stored under the bare SHA-256 of its token)', async () => {
    const integration = await createIntegration(rt.app);
    const { token, identifier } = await sessionFor(integration.testKey);
    const legacy = `otps_${'L'.repeat(43)}`;
    await rt.store.db.updateTable('sessions').set({ token_hash: sha256Hex(legacy) }).where('token_hash', '=', sessionKey(token)).execute();
    const ok = await authorize(integration.testKey, { action: 'redemption', identifier }, legacy);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ allowed: true, otp_required: true, session: { identifier } });
    expect((await authorize(integration.testKey, { action: 'redemption' }, `otps_${'M'.repeat(43)}`)).statusCode).toBe(403);
    const revoked = await rt.app.inject({ method: 'DELETE', url: '/v1/sessions/current', headers: { 'x-api-key': integration.testKey, 'x-otp-session': legacy } });
    expect(revoked.statusCode).toBe(200);
    expect((await authorize(integration.testKey, { action: 'redemption' }, legacy)).statusCode).toBe(403);
  });
});
