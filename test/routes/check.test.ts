import { describe, expect, it } from 'vitest';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import {
  email,
  expectJson,
  expectProblem,
  getVerification,
  phone,
  sendAndCapture,
  send,
  useRuntime,
  wrongCode,
  type CheckBody,
} from './support.js';

const CHECK = '/v1/verifications/check';

describe('POST /v1/verifications/check', () => {
  const runtime = useRuntime();

  it('approves the right code with an OTP session', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to, action: 'redemption' });
    const before = Date.now();
    const res = await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code });
    const after = Date.now();
    const body = expectJson<CheckBody>(res, 200);
    expect(body).toMatchObject({ status: 'approved', verification_id: verification.id, identifier: to, action: 'redemption', expires_in: 1800, identity: null });
    expect(body.otp_session).toMatch(/^otps_[0-9A-Za-z]{20,}$/);
    const sessionExpires = Date.parse(body.session_expires_at);
    expect(sessionExpires).toBeGreaterThanOrEqual(before + 1_800_000);
    expect(sessionExpires).toBeLessThanOrEqual(after + 1_800_000);
    expect(body).not.toHaveProperty('access_token');
    expect(await getVerification(rt.app, integration.testKey, verification.id)).toMatchObject({ status: 'approved', failure_reason: null });
  });

  it('accepts a code only once: the same code again is 404', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = email();
    const { code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 200);
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 404, 'not-found');
  });

  it('answers 401 invalid-code with attempts_remaining counting down', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const remaining: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code: wrongCode(code) });
      remaining.push(expectProblem(res, 401, 'invalid-code').attempts_remaining);
    }
    expect(remaining).toEqual([4, 3, 2]);
    expect(await getVerification(rt.app, integration.testKey, verification.id)).toMatchObject({ status: 'pending', attempts: 3, max_attempts: 5 });
    // The right code still works after wrong ones.
    expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 200);
  });

  it('fails the verification after max_attempts wrong codes: the next check is 429 max-attempts-reached', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { checks: { max_attempts: 3 }, limits: { check_per_minute: 100 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const remaining: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      remaining.push(expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code').attempts_remaining);
    }
    expect(remaining).toEqual([2, 1, 0]);
    // Even the right code is refused now.
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 429, 'max-attempts-reached');
    expect(await getVerification(rt.app, integration.testKey, verification.id)).toMatchObject({ status: 'failed', failure_reason: 'max_attempts_reached', attempts: 3 });
    // A new code can be requested and checked.
    const next = await sendAndCapture(rt, integration.testKey, { identifier: to });
    expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code: next.code }), 200);
  });

  it('with on_wrong_code restart, one wrong code fails the verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { checks: { on_wrong_code: 'restart' } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const body = expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    expect(body.attempts_remaining).toBe(0);
    expect((await getVerification(rt.app, integration.testKey, verification.id)).status).toBe('failed');
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 429, 'max-attempts-reached');
  });

  it('checks by verification_id', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const wrong = await api(rt.app, integration.testKey).post(CHECK, { verification_id: verification.id, code: wrongCode(code) });
    expect(expectProblem(wrong, 401, 'invalid-code').attempts_remaining).toBe(4);
    const res = await api(rt.app, integration.testKey).post(CHECK, { verification_id: verification.id, code });
    expect(expectJson<CheckBody>(res, 200)).toMatchObject({ verification_id: verification.id, identifier: to });
  });

  it('answers 404 for an unknown verification_id and for an identifier without verifications', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: phone(), code: '123456' }), 404, 'not-found');
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { verification_id: 'ver_doesnotexist0000', code: '123456' }), 404, 'not-found');
  });

  it('answers 400 when neither identifier nor verification_id is given', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { code: '123456' }), 400, 'validation-error');
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: phone() }), 400, 'validation-error');
  });

  it('answers 429 rate-limit-exceeded past check_per_minute', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { check_per_minute: 4 } } });
    const to = phone();
    const { code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    for (let i = 0; i < 4; i++) expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    const body = expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 429, 'rate-limit-exceeded');
    expect(body.retry_after).toBeLessThanOrEqual(60);
  });

  it('locks the identifier after lockout.max_failures failures across verifications', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { lockout: { max_failures: 3, duration_s: 900 }, checks: { max_attempts: 2 } } });
    const key = integration.testKey;
    const to = phone();
    const first = await sendAndCapture(rt, key, { identifier: to });
    expect(expectProblem(await api(rt.app, key).post(CHECK, { identifier: to, code: wrongCode(first.code) }), 401, 'invalid-code').attempts_remaining).toBe(1);
    expect(expectProblem(await api(rt.app, key).post(CHECK, { identifier: to, code: wrongCode(first.code) }), 401, 'invalid-code').attempts_remaining).toBe(0);
    expect((await getVerification(rt.app, key, first.verification.id)).status).toBe('failed');

    const second = await sendAndCapture(rt, key, { identifier: to });
    const third = expectProblem(await api(rt.app, key).post(CHECK, { identifier: to, code: wrongCode(second.code) }), 401, 'invalid-code');
    expect(third.attempts_remaining).toBe(1);

    const sendLocked = expectProblem(await api(rt.app, key).post('/v1/verifications', { identifier: to }), 429, 'identifier-locked');
    expect(sendLocked.lock_duration).toBeGreaterThan(890);
    expect(sendLocked.lock_duration).toBeLessThanOrEqual(900);
    const checkLocked = expectProblem(await api(rt.app, key).post(CHECK, { identifier: to, code: second.code }), 429, 'identifier-locked');
    expect(checkLocked.lock_duration).toBeGreaterThan(890);
    expect(checkLocked.lock_duration).toBeLessThanOrEqual(900);
    expect(checkLocked.retry_after).toBe(checkLocked.lock_duration);
    // The right code did not get through while locked.
    expect((await getVerification(rt.app, key, second.verification.id)).status).toBe('pending');
    // Other identifiers are not affected.
    await send(rt.app, key, { identifier: phone() });
  });

  it('resets the failure count on a successful check', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { lockout: { max_failures: 3 }, limits: { check_per_minute: 100, send_per_minute: 100 } } });
    const key = integration.testKey;
    const to = phone();
    const first = await sendAndCapture(rt, key, { identifier: to });
    for (let i = 0; i < 2; i++) expectProblem(await api(rt.app, key).post(CHECK, { identifier: to, code: wrongCode(first.code) }), 401, 'invalid-code');
    expectJson<CheckBody>(await api(rt.app, key).post(CHECK, { identifier: to, code: first.code }), 200);

    // Two more failures: four in all, but only two since the success.
    const second = await sendAndCapture(rt, key, { identifier: to });
    for (let i = 0; i < 2; i++) {
      const body = expectProblem(await api(rt.app, key).post(CHECK, { identifier: to, code: wrongCode(second.code) }), 401, 'invalid-code');
      expect(body.identifier_locked).toBeUndefined();
    }
    await send(rt.app, key, { identifier: to });
  });

  it('lets exactly one of 50 parallel checks of the right code through', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { check_per_minute: 1000 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const responses = await Promise.all(Array.from({ length: 50 }, () => api(rt.app, integration.testKey).post(CHECK, { identifier: to, code })));
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 404)).toHaveLength(49);
    for (const r of responses.filter((x) => x.statusCode === 404)) expectProblem(r, 404, 'not-found');
    expect(await getVerification(rt.app, integration.testKey, verification.id)).toMatchObject({ status: 'approved', attempts: 0 });
  });

  it('counts concurrent wrong codes one attempt each and never more than max_attempts', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { checks: { max_attempts: 3 }, limits: { check_per_minute: 1000 }, lockout: { max_failures: 1000 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    // Nine wrong guesses all at once, then the right code. (Sent with them, the right code could be
    // served before three wrong ones had counted and approve the verification: a legitimate order on
    // a store with parallel connections, and not what this test is about.)
    const wrong = await Promise.all(Array.from({ length: 9 }, () => api(rt.app, integration.testKey).post(CHECK, { identifier: to, code: wrongCode(code) })));
    const responses = [...wrong, await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code })];
    const invalid = responses.filter((r) => r.statusCode === 401).map((r) => expectProblem(r, 401, 'invalid-code').attempts_remaining);
    expect(invalid.sort()).toEqual([0, 1, 2]);
    for (const r of responses.filter((x) => x.statusCode !== 401)) expectProblem(r, 429, 'max-attempts-reached');
    expect(await getVerification(rt.app, integration.testKey, verification.id)).toMatchObject({ status: 'failed', attempts: 3 });
  });

  it('matches the identifier in any accepted form', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const address = email();
    const { code } = await sendAndCapture(rt, integration.testKey, { identifier: address });
    const [local, domain] = address.split('@') as [string, string];
    const res = await api(rt.app, integration.testKey).post(CHECK, { identifier: ` ${local}@${domain.toUpperCase()}`, code });
    expect(expectJson<CheckBody>(res, 200).identifier).toBe(address);

    const to = phone();
    const second = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const formatted = `+55 (11) ${to.slice(5, 10)}-${to.slice(10)}`;
    expect(expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: formatted, code: second.code }), 200).identifier).toBe(to);
  });

  it('uses the policy session.ttl_s for expires_in', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { session: { ttl_s: 90 } } });
    const to = phone();
    const { code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    const body = expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 200);
    expect(body.expires_in).toBe(90);
    expect(Date.parse(body.session_expires_at) - Date.now()).toBeLessThanOrEqual(90_000);
    expect(Date.parse(body.session_expires_at) - Date.now()).toBeGreaterThan(80_000);
  });

  it('does not find a test-mode verification with the live key', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    expectProblem(await api(rt.app, integration.liveKey).post(CHECK, { identifier: to, code }), 404, 'not-found');
    expectProblem(await api(rt.app, integration.liveKey).post(CHECK, { verification_id: verification.id, code }), 404, 'not-found');
    expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 200);
  });

  it('answers 404 when the latest verification was canceled', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    expectJson(await api(rt.app, integration.testKey).post(`/v1/verifications/${verification.id}/cancel`), 200);
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 404, 'not-found');
  });
});

describe('POST /v1/verifications/check with a manual clock', () => {
  // Each test moves time, so each has its own clock and runtime.
  const START = Date.UTC(2026, 0, 1, 12);

  it('answers 401 code-expired past code.ttl_s and GET shows expired', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const integration = await createIntegration(rt.app, { policy: { code: { ttl_s: 120 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    expect(verification.expires_at).toBe(new Date(clock.now() + 120_000).toISOString());
    clock.advance(120_000);
    expectProblem(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 401, 'code-expired');
    expect(await getVerification(rt.app, integration.testKey, verification.id)).toMatchObject({ status: 'expired', failure_reason: 'expired' });
  });

  it('still accepts the code a moment before it expires', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const integration = await createIntegration(rt.app, { policy: { code: { ttl_s: 120 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
    clock.advance(119_000);
    expect((await getVerification(rt.app, integration.testKey, verification.id)).status).toBe('pending');
    const body = expectJson<CheckBody>(await api(rt.app, integration.testKey).post(CHECK, { identifier: to, code }), 200);
    expect(body.session_expires_at).toBe(new Date(clock.now() + 1_800_000).toISOString());
  });
});
