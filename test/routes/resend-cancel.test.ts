import { beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/domain/clock.js';
import { resettableClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import {
  admin,
  email,
  expectJson,
  expectProblem,
  getVerification,
  phone,
  sandboxMessages,
  sendAndCapture,
  send,
  useRuntime,
  wrongCode,
  type CheckBody,
  type VerificationBody,
} from './support.js';

const START = Date.UTC(2026, 2, 1, 9);
/**
 * Nearly every test here moves time, and a runtime per test would cost seconds each on Postgres, so the
 * tests share one runtime and each gets a fresh clock at START (resettableClock). What the runtime keeps
 * that depends on time is scoped to a test's own integration and identifiers (verifications, cooldowns,
 * send and check limits, cached keys), except the outbox: useRuntime delivers what is due before each
 * test, and the beforeEach below drops what was scheduled later, before the clock goes back to START.
 */
const time = resettableClock(START);
const runtime = useRuntime({ clock: time.clock });
let clock: ManualClock;
beforeEach(async () => {
  await runtime().store.db.deleteFrom('outbox').execute();
  clock = time.fresh();
});

const resendUrl = (id: string) => `/v1/verifications/${id}/resend`;
const cancelUrl = (id: string) => `/v1/verifications/${id}/cancel`;

describe('POST /v1/verifications/{id}/resend', () => {
  it('sends the same code again once the cooldown has passed, keeping attempts and counting sends', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const key = integration.testKey;
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, key, { identifier: to });
    expectProblem(await api(rt.app, key).post('/v1/verifications/check', { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');

    clock.advance(30_000);
    const res = await api(rt.app, key).post(resendUrl(verification.id));
    const resent = expectJson<VerificationBody>(res, 200);
    expect(resent).toMatchObject({ id: verification.id, status: 'pending', sends: 2, attempts: 1, expires_at: verification.expires_at });
    expect(resent.resend_available_at).toBe(new Date(clock.now() + 30_000).toISOString());
    expect(resent.deliveries).toHaveLength(2);
    expect(resent.deliveries[1]).toMatchObject({ channel: 'whatsapp', status: 'queued' });

    const messages = await sandboxMessages(rt, key, to);
    expect(messages).toHaveLength(2);
    expect(messages.map((m) => m.code)).toEqual([code, code]);

    const after = await getVerification(rt.app, key, verification.id);
    expect(after.attempts).toBe(1);
    expect(after.deliveries.map((d) => d.status)).toEqual(['delivered', 'delivered']);
    // The next wrong code continues the count.
    const wrong = expectProblem(await api(rt.app, key).post('/v1/verifications/check', { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    expect(wrong.attempts_remaining).toBe(3);
    expectJson<CheckBody>(await api(rt.app, key).post('/v1/verifications/check', { identifier: to, code }), 200);
  });

  it('answers 429 resend-cooldown with Retry-After before the cooldown ends', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    const early = expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 429, 'resend-cooldown');
    expect(early.retry_after).toBe(30);
    clock.advance(12_000);
    const later = expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 429, 'resend-cooldown');
    expect(later.retry_after).toBe(18);
    expect((await getVerification(rt.app, integration.testKey, v.id)).sends).toBe(1);
    clock.advance(18_000);
    expectJson(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 200);
  });

  it('answers 429 max-sends-reached once max_sends is used up', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { resend_cooldown_s: 0, max_sends: 2 } } });
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to });
    expect(expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 200).sends).toBe(2);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 429, 'max-sends-reached');
    expect((await getVerification(rt.app, integration.testKey, v.id)).sends).toBe(2);
    expect(await sandboxMessages(rt, integration.testKey, to)).toHaveLength(2);
  });

  it('answers 409 invalid-state for a canceled verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    expectJson(await api(rt.app, integration.testKey).post(cancelUrl(v.id)), 200);
    clock.advance(30_000);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 409, 'invalid-state');
  });

  it('answers 409 invalid-state for an approved verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    expectJson(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code }), 200);
    clock.advance(30_000);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl(verification.id)), 409, 'invalid-state');
  });

  it('resends on another channel when asked (sms)', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    clock.advance(30_000);
    const resent = expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(resendUrl(verification.id), { channel: 'sms' }), 200);
    expect(resent.deliveries.map((d) => d.channel)).toEqual(['whatsapp', 'sms']);
    const [latest] = await sandboxMessages(rt, integration.testKey, to);
    expect(latest).toMatchObject({ channel: 'sms', code, verification_id: verification.id });
  });

  it('refuses a channel that cannot reach the identifier', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: email() });
    clock.advance(30_000);
    const body = expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id), { channel: 'sms' }), 400, 'validation-error');
    expect(body.errors?.channel).toBeDefined();
    expect((await getVerification(rt.app, integration.testKey, v.id)).sends).toBe(1);
  });

  it('answers 409 invalid-state for an expired verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { code: { ttl_s: 60 } } });
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    clock.advance(60_000);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 409, 'invalid-state');
  });

  it('answers 422 channel-unavailable for a channel the policy does not allow', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { channels: ['whatsapp'] } });
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    clock.advance(30_000);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id), { channel: 'sms' }), 422, 'channel-unavailable');
    expect((await getVerification(rt.app, integration.testKey, v.id)).sends).toBe(1);
  });

  it('lets only one of several concurrent resends through', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 100 } } });
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to });
    clock.advance(30_000);
    const responses = await Promise.all(Array.from({ length: 8 }, () => api(rt.app, integration.testKey).post(resendUrl(v.id))));
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(1);
    for (const r of responses.filter((x) => x.statusCode !== 200)) expectProblem(r, 429, 'resend-cooldown');
    expect((await getVerification(rt.app, integration.testKey, v.id)).sends).toBe(2);
    expect(await sandboxMessages(rt, integration.testKey, to)).toHaveLength(2);
  });

  it('answers 403 feature-not-enabled once otp_enabled is turned off', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    expectJson(await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy: { otp_enabled: false } }), 200);
    clock.advance(30_000);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl(v.id)), 403, 'feature-not-enabled');
    expect((await getVerification(rt.app, integration.testKey, v.id)).sends).toBe(1);
  });

  it('answers 404 for an unknown id', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.testKey).post(resendUrl('ver_doesnotexist0000')), 404, 'not-found');
  });

  it('answers 404 for another integration\'s verification', async () => {
    const rt = runtime();
    const a = await createIntegration(rt.app);
    const b = await createIntegration(rt.app);
    const v = await send(rt.app, a.testKey, { identifier: phone() });
    clock.advance(30_000);
    expectProblem(await api(rt.app, b.testKey).post(resendUrl(v.id)), 404, 'not-found');
    expectProblem(await api(rt.app, b.testKey).post(cancelUrl(v.id)), 404, 'not-found');
    expect(await getVerification(rt.app, a.testKey, v.id)).toMatchObject({ status: 'pending', sends: 1 });
  });
});

describe('POST /v1/verifications/{id}/cancel', () => {
  it('cancels a pending verification; a second cancel is 409 invalid-state', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    const canceled = expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(cancelUrl(v.id)), 200);
    expect(canceled).toMatchObject({ id: v.id, status: 'canceled', failure_reason: 'canceled' });
    expect((await getVerification(rt.app, integration.testKey, v.id)).status).toBe('canceled');
    expectProblem(await api(rt.app, integration.testKey).post(cancelUrl(v.id)), 409, 'invalid-state');
  });

  it('does not deliver a message queued before the cancel', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to });
    expectJson(await api(rt.app, integration.testKey).post(cancelUrl(v.id)), 200);
    expect(await sandboxMessages(rt, integration.testKey, to)).toEqual([]);
    const [delivery] = (await getVerification(rt.app, integration.testKey, v.id)).deliveries;
    expect(delivery?.status).toBe('failed');
  });

  it('accepts a bodiless POST', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    const res = await rt.app.inject({ method: 'POST', url: cancelUrl(v.id), headers: { 'x-api-key': integration.testKey } });
    expect(expectJson<VerificationBody>(res, 200).status).toBe('canceled');
  });

  it('accepts content-type application/json with an empty body', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    const res = await rt.app.inject({ method: 'POST', url: cancelUrl(v.id), headers: { 'x-api-key': integration.testKey, 'content-type': 'application/json' }, payload: '' });
    expect(expectJson<VerificationBody>(res, 200).status).toBe('canceled');
  });

  it('accepts an empty JSON object and refuses unknown fields', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    expectProblem(await api(rt.app, integration.testKey).post(cancelUrl(v.id), { reason: 'x' }), 400, 'validation-error');
    expect((await getVerification(rt.app, integration.testKey, v.id)).status).toBe('pending');
    expect(expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(cancelUrl(v.id), {}), 200).status).toBe('canceled');
  });

  it('answers 409 invalid-state for an expired verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { code: { ttl_s: 60 } } });
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    clock.advance(60_000);
    expectProblem(await api(rt.app, integration.testKey).post(cancelUrl(v.id)), 409, 'invalid-state');
    expect((await getVerification(rt.app, integration.testKey, v.id)).status).toBe('expired');
  });

  it('answers 403 feature-not-enabled once otp_enabled is turned off (API.md: the verification endpoints answer 403)', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    expectJson(await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy: { otp_enabled: false } }), 200);
    expectProblem(await api(rt.app, integration.testKey).post(cancelUrl(v.id)), 403, 'feature-not-enabled');
    expect((await getVerification(rt.app, integration.testKey, v.id)).status).toBe('pending');
  });

  it('answers 404 for an unknown id', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.testKey).post(cancelUrl('ver_doesnotexist0000')), 404, 'not-found');
  });
});
