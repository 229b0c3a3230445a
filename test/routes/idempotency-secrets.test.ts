import { describe, expect, it } from 'vitest';
import { api, createIntegration, latestCode } from '../helpers/runtime.js';
import { admin, expectJson, phone, useRuntime, type CheckBody, type VerificationBody } from './support.js';

const runtime = useRuntime();
const SHOWN_ONCE = '[shown once]';

interface IssuedKey {
  id: string;
  key: string;
  signing_secret: string;
}

async function storedAnswer(rt: ReturnType<typeof runtime>, key: string): Promise<string> {
  const row = await rt.store.db.selectFrom('idempotency_keys').select('response_body').where('key', '=', key).executeTakeFirstOrThrow();
  return row.response_body ?? '';
}

describe('Idempotency-Key: secrets at rest and in replays', () => {
  it('stores an operator create sealed, without its API keys and signing secrets, and replays them as shown once', async () => {
    const rt = runtime();
    const headers = { 'idempotency-key': `secret-create-${phone()}` };
    const name = `Sealed ${phone()}`;
    const first = expectJson<{ id: string; name: string; keys: { test: IssuedKey; live: IssuedKey } }>(await admin(rt.app).post('/admin/v1/integrations', { name }, headers), 201);
    expect(first.keys.test.key).toMatch(/^otpg_test_/);

    const stored = await storedAnswer(rt, headers['idempotency-key']);
    expect(stored).toMatch(/^v1\./); // sealed
    for (const secret of [first.keys.test.key, first.keys.test.signing_secret, first.keys.live.key, first.keys.live.signing_secret, name, first.id]) {
      expect(stored).not.toContain(secret);
    }

    const again = await admin(rt.app).post('/admin/v1/integrations', { name }, headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const replay = again.json() as typeof first;
    expect(replay.id).toBe(first.id);
    expect(replay.name).toBe(name);
    for (const mode of ['test', 'live'] as const) {
      expect(replay.keys[mode]).toEqual({ ...first.keys[mode], key: SHOWN_ONCE, signing_secret: SHOWN_ONCE });
    }
    // The key issued the first time still works: it was only hidden from the replay.
    expect((await api(rt.app, first.keys.test.key).get('/v1/sandbox/messages?limit=1')).statusCode).toBe(200);
  });

  it('does the same for another key of an integration', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const headers = { 'idempotency-key': 'another-key' };
    const first = expectJson<IssuedKey>(await admin(rt.app).post(`/admin/v1/integrations/${integration.id}/keys`, { mode: 'live' }, headers), 201);
    expect(await storedAnswer(rt, 'another-key')).not.toContain(first.key);
    const again = await admin(rt.app).post(`/admin/v1/integrations/${integration.id}/keys`, { mode: 'live' }, headers);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual({ ...first, key: SHOWN_ONCE, signing_secret: SHOWN_ONCE });
  });

  it('stores an approved check without its otp_session and access token, and replays the approval without them', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const to = phone();
    const v = expectJson<VerificationBody>(await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to }), 201);
    const code = await latestCode(rt, integration.testKey, to);
    const headers = { 'idempotency-key': `check-${v.id}` };
    const body = { verification_id: v.id, code };
    const first = expectJson<CheckBody & { access_token?: string }>(await api(rt.app, integration.testKey).post('/v1/verifications/check', body, headers), 200);
    expect(first.otp_session).toBeTruthy();
    expect(first.access_token).toBeTruthy();

    const stored = await storedAnswer(rt, headers['idempotency-key']);
    expect(stored).toMatch(/^v1\./);
    expect(stored).not.toContain(first.otp_session);
    expect(stored).not.toContain(first.access_token);

    const again = await api(rt.app, integration.testKey).post('/v1/verifications/check', body, headers);
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual({ ...first, otp_session: SHOWN_ONCE, access_token: SHOWN_ONCE });
  });

  it('replays an answer an older version kept in clear without its secrets', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const headers = { 'idempotency-key': 'legacy-row' };
    const first = expectJson<IssuedKey>(await admin(rt.app).post(`/admin/v1/integrations/${integration.id}/keys`, { mode: 'test' }, headers), 201);
    // As an older version stored it: the answer itself, in clear.
    await rt.store.db.updateTable('idempotency_keys').set({ response_body: JSON.stringify(first) }).where('key', '=', 'legacy-row').execute();
    const again = await admin(rt.app).post(`/admin/v1/integrations/${integration.id}/keys`, { mode: 'test' }, headers);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual({ ...first, key: SHOWN_ONCE, signing_secret: SHOWN_ONCE });
  });
});
