import { describe, expect, it } from 'vitest';
import { api, createIntegration } from '../helpers/runtime.js';
import {
  codeOf,
  email,
  expectJson,
  expectProblem,
  formatBr,
  getVerification,
  phone,
  recordingChannels,
  sandboxMessages,
  send,
  useRuntime,
  usPhone,
  type CheckBody,
  type VerificationBody,
} from './support.js';

describe('POST /v1/verifications', () => {
  const runtime = useRuntime();

  it('answers 201 with a pending verification, normalised identifier and a queued delivery; GET shows it delivered after the worker runs', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const before = Date.now();
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: formatBr(to) });
    const after = Date.now();
    const v = expectJson<VerificationBody>(res, 201);
    expect(v.id).toMatch(/^ver_[0-9A-Za-z]+$/);
    expect(v).toMatchObject({ status: 'pending', identifier: to, channel: 'whatsapp', action: 'sign_in', code_length: 6, attempts: 0, sends: 1, max_attempts: 5 });
    const expiresAt = Date.parse(v.expires_at);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 300_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 300_000);
    expect(Date.parse(v.resend_available_at)).toBe(expiresAt - 300_000 + 30_000);
    expect(v.expires_at).toMatch(/Z$/);
    expect(v.deliveries).toHaveLength(1);
    expect(v.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'queued' });

    expect(await rt.worker.drain()).toBeGreaterThanOrEqual(1);
    const got = await getVerification(rt.app, integration.testKey, v.id);
    expect(got).toMatchObject({ id: v.id, status: 'pending', identifier: to });
    expect(got.deliveries).toEqual([expect.objectContaining({ channel: 'whatsapp', status: 'delivered' })]);
  });

  it('sends an email identifier by email, with the domain lower-cased', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const address = email();
    const [local, domain] = address.split('@') as [string, string];
    const v = await send(rt.app, integration.testKey, { identifier: `  ${local}@${domain.toUpperCase()} `, action: 'enrollment' });
    expect(v).toMatchObject({ identifier: address, identifier_type: 'email', channel: 'email', action: 'enrollment' });
    const [message] = await sandboxMessages(rt, integration.testKey, address);
    expect(message).toMatchObject({ to: address, channel: 'email', verification_id: v.id });
    expect(message?.subject).toEqual(expect.any(String));
  });

  it('captures the message in the sandbox with the code, and that code checks', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to });
    const messages = await sandboxMessages(rt, integration.testKey, to);
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message).toMatchObject({ to, channel: 'whatsapp', verification_id: v.id });
    expect(message?.id).toMatch(/^msg_/);
    expect(message?.code).toMatch(/^\d{6}$/);
    expect(message?.body).toContain(message?.code ?? 'no code');

    const check = await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: message?.code });
    expect(expectJson<CheckBody>(check, 200)).toMatchObject({ status: 'approved', verification_id: v.id });
  });

  it('cancels the earlier pending verification when a new one is requested', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const first = await send(rt.app, integration.testKey, { identifier: to });
    const second = await send(rt.app, integration.testKey, { identifier: to });
    expect(second.id).not.toBe(first.id);
    expect(await getVerification(rt.app, integration.testKey, first.id)).toMatchObject({ status: 'canceled', failure_reason: 'superseded' });
    expect(await getVerification(rt.app, integration.testKey, second.id)).toMatchObject({ status: 'pending', failure_reason: null });
    // The latest verification is the one checked.
    const code = await codeOf(rt, integration.testKey, second.id);
    const check = await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code });
    expect(expectJson<CheckBody>(check, 200).verification_id).toBe(second.id);
  });

  it('sends by sms when asked for sms', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to, channel: 'sms' });
    expect(v.channel).toBe('sms');
    expect(v.deliveries[0]?.channel).toBe('sms');
    const [message] = await sandboxMessages(rt, integration.testKey, to);
    expect(message?.channel).toBe('sms');
  });

  it('auto follows the policy channel order', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { channels: ['sms', 'whatsapp'] } });
    const v = await send(rt.app, integration.testKey, { identifier: phone() });
    expect(v.channel).toBe('sms');
  });

  it('refuses channel email for a phone with 400 validation-error on channel', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: phone(), channel: 'email' });
    const body = expectProblem(res, 400, 'validation-error');
    expect(body.errors?.channel).toEqual([expect.any(String)]);
    expect(await rt.worker.drain()).toBe(0);
  });

  it('answers 422 channel-unavailable for a channel the policy does not allow', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { channels: ['sms'] } });
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: phone(), channel: 'whatsapp' });
    expectProblem(res, 422, 'channel-unavailable');
    expect(await sandboxMessages(rt, integration.testKey)).toEqual([]);
  });

  it('answers 422 channel-unavailable in live mode without providers, and stores nothing', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const res = await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: to });
    expectProblem(res, 422, 'channel-unavailable');
    expect(await rt.worker.drain()).toBe(0);
    // Nothing in live mode to check, nothing captured, and nothing visible to the test key either.
    expectProblem(await api(rt.app, integration.liveKey).post('/v1/verifications/check', { identifier: to, code: '123456' }), 404, 'not-found');
    expect(await sandboxMessages(rt, integration.testKey)).toEqual([]);
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: '123456' }), 404, 'not-found');
  });

  it('answers 422 no-delivery-address for a valid CPF and 400 for an invalid one', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const valid = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: '529.982.247-25' });
    expectProblem(valid, 422, 'no-delivery-address');
    const invalid = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: '529.982.247-26' });
    expect(expectProblem(invalid, 400, 'validation-error').errors?.identifier).toEqual(['invalid_cpf']);
    const allEqual = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: '111.111.111-11' });
    expectProblem(allEqual, 400, 'validation-error');
    expect(await rt.worker.drain()).toBe(0);
  });

  it('answers 422 invalid-identity-reference for an unknown identity_reference', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: phone(), identity_reference: 'customer-42' });
    expectProblem(res, 422, 'invalid-identity-reference');
    expect(await rt.worker.drain()).toBe(0);
  });

  it('answers 403 forbidden-country for a phone outside allowed_countries', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { allowed_countries: ['BR'] } });
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: usPhone() }), 403, 'forbidden-country');
    expect(await rt.worker.drain()).toBe(0);
    // A Brazilian number and an email still go out.
    await send(rt.app, integration.testKey, { identifier: phone() });
    await send(rt.app, integration.testKey, { identifier: email() });
  });

  it('answers 403 feature-not-enabled on send and check when otp_enabled is false', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { otp_enabled: false } });
    const to = phone();
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to }), 403, 'feature-not-enabled');
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: '123456' }), 403, 'feature-not-enabled');
    expect(await rt.worker.drain()).toBe(0);
  });

  it('leaves exactly one pending verification after concurrent requests for one identifier', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 100 } } });
    const to = phone();
    const responses = await Promise.all(Array.from({ length: 8 }, () => api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })));
    const created = responses.map((r) => expectJson<VerificationBody>(r, 201));
    const states = await Promise.all(created.map((v) => getVerification(rt.app, integration.testKey, v.id)));
    expect(states.filter((v) => v.status === 'pending')).toHaveLength(1);
    expect(states.filter((v) => v.status === 'canceled' && v.failure_reason === 'superseded')).toHaveLength(7);
  });

  it('answers 429 rate-limit-exceeded with Retry-After on the 4th send in a minute (send_per_minute 3)', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 3 } } });
    const to = phone();
    for (let i = 0; i < 3; i++) await send(rt.app, integration.testKey, { identifier: to });
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to });
    const body = expectProblem(res, 429, 'rate-limit-exceeded');
    expect(body.retry_after).toBeLessThanOrEqual(60);
    // Another identifier has its own window.
    await send(rt.app, integration.testKey, { identifier: phone() });
  });

  for (const length of [4, 10]) {
    it(`sends ${length}-digit codes when the policy sets code.length ${length}`, async () => {
      const rt = runtime();
      const integration = await createIntegration(rt.app, { policy: { code: { length } } });
      const to = phone();
      const v = await send(rt.app, integration.testKey, { identifier: to });
      expect(v.code_length).toBe(length);
      const code = await codeOf(rt, integration.testKey, v.id);
      expect(code).toMatch(new RegExp(`^\\d{${length}}$`));
      const check = await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code });
      expectJson<CheckBody>(check, 200);
    });
  }

  it('keeps the locale and action it was given', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to, action: 'coupon_usage', locale: 'pt-BR' });
    expect(v).toMatchObject({ action: 'coupon_usage', locale: 'pt-BR' });
    const [message] = await sandboxMessages(rt, integration.testKey, to);
    expect(message?.body).toContain('código');
  });
});

describe('GET /v1/verifications/{id}', () => {
  const live = recordingChannels('whatsapp', 'sms');
  const runtime = useRuntime({ liveChannels: live.registry });

  it('answers 404 for a verification of another integration', async () => {
    const rt = runtime();
    const a = await createIntegration(rt.app);
    const b = await createIntegration(rt.app);
    const v = await send(rt.app, a.testKey, { identifier: phone() });
    expectProblem(await api(rt.app, b.testKey).get(`/v1/verifications/${v.id}`), 404, 'not-found');
    expect(await getVerification(rt.app, a.testKey, v.id)).toMatchObject({ id: v.id });
  });

  it('keeps test and live mode apart', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const liveV = await send(rt.app, integration.liveKey, { identifier: to });
    await rt.worker.drain();
    expect(live.adapters.whatsapp?.jobs.some((j) => j.verificationId === liveV.id && j.mode === 'live')).toBe(true);
    expect(await getVerification(rt.app, integration.liveKey, liveV.id)).toMatchObject({ id: liveV.id, status: 'pending' });

    // The test key sees neither the live verification nor its message.
    expectProblem(await api(rt.app, integration.testKey).get(`/v1/verifications/${liveV.id}`), 404, 'not-found');
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: '123456' }), 404, 'not-found');
    expect(await sandboxMessages(rt, integration.testKey, to)).toEqual([]);

    // A test verification for the same identifier does not supersede the live one, and the live key cannot see it.
    const testV = await send(rt.app, integration.testKey, { identifier: to });
    expectProblem(await api(rt.app, integration.liveKey).get(`/v1/verifications/${testV.id}`), 404, 'not-found');
    expect(await getVerification(rt.app, integration.liveKey, liveV.id)).toMatchObject({ status: 'pending' });
    expect(live.adapters.whatsapp?.jobs.some((j) => j.verificationId === testV.id)).toBe(false);
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.testKey).get('/v1/verifications/ver_doesnotexist0000'), 404, 'not-found');
    expectProblem(await api(rt.app, integration.testKey).get('/v1/verifications/not-an-id'), 400, 'validation-error');
  });

  it('live keys get 403 test-mode-only on the sandbox', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.liveKey).get('/v1/sandbox/messages'), 403, 'test-mode-only');
  });
});
