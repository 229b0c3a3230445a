import { describe, expect, it } from 'vitest';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import { email, expectJson, expectProblem, phone, sendAndCapture, wrongCode, type CheckBody } from '../routes/support.js';
import { expectNoSecrets, storedEvents } from './support.js';

const START = Date.UTC(2026, 2, 2, 9);
const CHECK = '/v1/verifications/check';

describe('identifier.locked', () => {
  it('is recorded once, by the wrong code that starts the lock; checks and sends refused while locked add none', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { lockout: { max_failures: 3, window_s: 600, duration_s: 900 }, checks: { max_attempts: 10 }, limits: { check_per_minute: 100 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    for (let i = 0; i < 2; i++) expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    expect(await storedEvents(rt, { type: 'identifier.locked' })).toHaveLength(0);
    const third = expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    expect(third).toMatchObject({ identifier_locked: true, lock_duration: 900 });
    for (let i = 0; i < 3; i++) expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code }), 429, 'identifier-locked');
    expectProblem(await api(rt.app, testKey).post('/v1/verifications', { identifier: to }), 429, 'identifier-locked');
    const events = await storedEvents(rt, { type: 'identifier.locked' });
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual({
      identifier: to,
      verification_id: verification.id,
      lock_duration: 900,
      locked_until: new Date(START + 900_000).toISOString(),
      max_failures: 3,
      window_s: 600,
    });
    expectNoSecrets(events[0]!, code);
    // The wrong codes before the lock did not fail the verification (10 attempts): no verification.failed either.
    expect(await storedEvents(rt, { type: 'verification.failed' })).toHaveLength(0);
  });

  it('under 20 concurrent wrong codes the lock starts once: one identifier.locked', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { lockout: { max_failures: 4 }, checks: { max_attempts: 10 }, limits: { check_per_minute: 100 } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    const answers = await Promise.all(Array.from({ length: 20 }, () => api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) })));
    expect(answers.filter((res) => res.statusCode === 401)).toHaveLength(4);
    expect(answers.filter((res) => res.statusCode === 429)).toHaveLength(16);
    expect((await storedEvents(rt, { type: 'identifier.locked' })).map((e) => e.data.verification_id)).toEqual([verification.id]);
  });

  it('the wrong code that uses the last attempt and the last failure records both events', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { lockout: { max_failures: 2 }, checks: { max_attempts: 2 } } });
    const to = email();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    for (let i = 0; i < 2; i++) expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    const events = await storedEvents(rt);
    expect(events.filter((e) => e.type === 'identifier.locked').map((e) => e.data.verification_id)).toEqual([verification.id]);
    expect(events.filter((e) => e.type === 'verification.failed').map((e) => e.data.id)).toEqual([verification.id]);
  });
});

describe('identity.merged', () => {
  it('carries the surviving identity as GET /v1/identities shows it, and what merged into it', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const client = api(rt.app, testKey);
    const address = email();
    const verify = async (reference: string) => {
      const to = address;
      const { code } = await sendAndCapture(rt, testKey, { identifier: to, identity_reference: reference });
      const body = expectJson<CheckBody>(await client.post(CHECK, { identifier: to, code }), 200);
      return { code, body };
    };
    expectJson(await client.post('/v1/identities', { reference: 'older-ref', name: 'Older' }), 201);
    clock.advance(1_000);
    const newer = expectJson<{ id: string }>(await client.post('/v1/identities', { reference: 'newer-ref', name: 'Newer' }), 201);
    const first = await verify('older-ref');
    expect(await storedEvents(rt, { type: 'identity.merged' })).toHaveLength(0);
    const second = await verify('newer-ref');
    const events = await storedEvents(rt, { type: 'identity.merged' });
    expect(events).toHaveLength(1);
    const shown = expectJson<Record<string, unknown>>(await client.get('/v1/identities/older-ref'), 200);
    const { merged_id, references_moved, survivor_id, ...identity } = events[0]!.data;
    expect(identity).toEqual(shown);
    expect(identity).toMatchObject({ reference: 'older-ref', references: ['older-ref', 'newer-ref'], email: address, email_verified: true });
    expect({ merged_id, references_moved, survivor_id }).toEqual({ merged_id: newer.id, references_moved: ['newer-ref'], survivor_id: shown.id });
    expectNoSecrets(events[0]!, first.code, second.code, first.body.otp_session, second.body.otp_session);
  });
});
