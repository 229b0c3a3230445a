import { describe, expect, it } from 'vitest';
import type { ChannelAdapter, DeliveryJob } from '../../src/delivery/channel.js';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import { codeOf, email, expectJson, expectProblem, getVerification, phone, send, sendAndCapture, wrongCode, type CheckBody, type VerificationBody } from '../routes/support.js';
import { expectNoSecrets, storedEvents, verificationEvents } from './support.js';

const START = Date.UTC(2026, 2, 1, 12);
const CHECK = '/v1/verifications/check';

/** A live provider that refuses every message for good, remembering the codes it was given. */
class RefusingChannel implements ChannelAdapter {
  readonly name = 'refusing';
  readonly codes: string[] = [];
  async send(job: DeliveryJob) {
    this.codes.push(job.code);
    return { ok: false as const, retryable: false, provider: 'refusing', errorCode: 'unreachable', error: 'the number cannot receive messages' };
  }
}

describe('verification events: one per state change, the verification as GET shows it, no code', () => {
  it('verification.created: in the send, its data the 201 body', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey, id: integrationId } = await createIntegration(rt.app);
    const created = await send(rt.app, testKey, { identifier: phone(), action: 'enrollment' });
    const events = await verificationEvents(rt, created.id, 'verification.created');
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({ integration_id: integrationId, mode: 'test', created_at: START });
    expect(event!.id).toMatch(/^evt_[0-9A-Za-z]+$/);
    expect(event!.data).toEqual(created);
    const code = await codeOf(rt, testKey, created.id);
    expectNoSecrets(event!, code);
  });

  it('verification.delivered (sandbox capture): the verification with its delivered attempt', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const created = await send(rt.app, testKey, { identifier: email() });
    expect(await verificationEvents(rt, created.id, 'verification.delivered')).toHaveLength(0); // not before it happened
    const code = await codeOf(rt, testKey, created.id); // drains the outbox
    const events = await verificationEvents(rt, created.id, 'verification.delivered');
    expect(events).toHaveLength(1);
    const shown = await getVerification(rt.app, testKey, created.id);
    const { delivery, next_channel, ...verification } = events[0]!.data;
    expect(verification).toEqual(shown);
    expect(delivery).toEqual(shown.deliveries[0]);
    expect(delivery).toMatchObject({ channel: 'email', status: 'delivered', provider: 'sandbox' });
    expect(next_channel).toBeNull();
    expectNoSecrets(events[0]!, code);
  });

  it('verification.delivery_failed (live provider refuses): the verification with the failed attempt', async () => {
    const refusing = new RefusingChannel();
    const { rt } = await runtimeWithClock(START, { liveChannels: { sms: refusing } });
    const { liveKey } = await createIntegration(rt.app, { policy: { channels: ['sms'] } });
    const created = await send(rt.app, liveKey, { identifier: phone(), channel: 'sms' });
    await rt.worker.drain();
    const events = await verificationEvents(rt, created.id, 'verification.delivery_failed');
    expect(events).toHaveLength(1);
    expect(events[0]!.mode).toBe('live');
    const shown = await getVerification(rt.app, liveKey, created.id);
    const { delivery, next_channel, ...verification } = events[0]!.data;
    expect(verification).toEqual(shown);
    expect(delivery).toMatchObject({ channel: 'sms', status: 'failed', provider: 'refusing', error_code: 'unreachable', error: 'the number cannot receive messages' });
    expect(next_channel).toBeNull();
    expect(refusing.codes).toHaveLength(1);
    expectNoSecrets(events[0]!, refusing.codes[0]!);
    expect(await verificationEvents(rt, created.id, 'verification.delivered')).toHaveLength(0);
  });

  it('verification.approved: once, by the check that approved; never the session token', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    const approved = expectJson<CheckBody & { access_token: string }>(await api(rt.app, testKey).post(CHECK, { identifier: to, code }), 200);
    expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code }), 404, 'not-found'); // a second check changes nothing
    const events = await verificationEvents(rt, verification.id, 'verification.approved');
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual(await getVerification(rt.app, testKey, verification.id));
    expect(events[0]!.data).toMatchObject({ status: 'approved', failure_reason: null, attempts: 0 });
    expectNoSecrets(events[0]!, code, approved.otp_session, approved.access_token);
  });

  it('verification.failed: once, when the last attempt is used; wrong codes before it and refusals after it record nothing', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { checks: { max_attempts: 3 }, limits: { check_per_minute: 100 } } });
    const to = email();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    for (let i = 0; i < 2; i++) expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    expect(await verificationEvents(rt, verification.id, 'verification.failed')).toHaveLength(0);
    expect(expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code').attempts_remaining).toBe(0);
    expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code }), 429, 'max-attempts-reached');
    const events = await verificationEvents(rt, verification.id, 'verification.failed');
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual(await getVerification(rt.app, testKey, verification.id));
    expect(events[0]!.data).toMatchObject({ status: 'failed', failure_reason: 'max_attempts_reached', attempts: 3 });
    expectNoSecrets(events[0]!, code);
  });

  it('verification.failed under on_wrong_code "restart": the first wrong code fails it', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { checks: { on_wrong_code: 'restart' } } });
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    const events = await verificationEvents(rt, verification.id, 'verification.failed');
    expect(events.map((e) => [e.data.status, e.data.failure_reason, e.data.attempts])).toEqual([['failed', 'wrong_code', 1]]);
  });

  it('verification.canceled: once by POST …/cancel; a refused second cancel (409) records nothing', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: phone() });
    const canceled = expectJson<VerificationBody>(await api(rt.app, testKey).post(`/v1/verifications/${verification.id}/cancel`), 200);
    expectProblem(await api(rt.app, testKey).post(`/v1/verifications/${verification.id}/cancel`), 409, 'invalid-state');
    const events = await verificationEvents(rt, verification.id, 'verification.canceled');
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toEqual(canceled);
    expect(events[0]!.data).toMatchObject({ status: 'canceled', failure_reason: 'canceled' });
    expectNoSecrets(events[0]!, code);
  });

  it('verification.canceled when a new request supersedes the pending one, in the new request’s transaction', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const to = phone();
    const first = await send(rt.app, testKey, { identifier: to });
    const second = await send(rt.app, testKey, { identifier: to });
    const events = await verificationEvents(rt, first.id, 'verification.canceled');
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ id: first.id, status: 'canceled', failure_reason: 'superseded' });
    expect(events[0]!.data).toEqual(await getVerification(rt.app, testKey, first.id));
    expect(await verificationEvents(rt, second.id, 'verification.canceled')).toHaveLength(0);
    expect((await storedEvents(rt, { type: 'verification.created' })).map((e) => e.data.id).sort()).toEqual([first.id, second.id].sort());
  });

  it('verification.expired when a check finds the code lapsed: once, however many checks see it', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { code: { ttl_s: 60 } } });
    const to = email();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    clock.advance(60_000);
    expect(await verificationEvents(rt, verification.id, 'verification.expired')).toHaveLength(0); // no sweeper in this runtime, no read yet
    expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: to, code }), 401, 'code-expired');
    expectProblem(await api(rt.app, testKey).post(CHECK, { verification_id: verification.id, code }), 401, 'code-expired');
    const events = await verificationEvents(rt, verification.id, 'verification.expired');
    expect(events).toHaveLength(1);
    expect(events[0]!.created_at).toBe(START + 60_000);
    expect(events[0]!.data).toEqual(await getVerification(rt.app, testKey, verification.id));
    expect(events[0]!.data).toMatchObject({ status: 'expired', failure_reason: 'expired' });
    expectNoSecrets(events[0]!, code);
  });

  it('a new request for an identifier whose code had lapsed records verification.expired for it, not canceled', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { code: { ttl_s: 60 } } });
    const to = phone();
    const first = await send(rt.app, testKey, { identifier: to });
    clock.advance(61_000);
    await send(rt.app, testKey, { identifier: to });
    expect(await verificationEvents(rt, first.id, 'verification.canceled')).toHaveLength(0);
    const events = await verificationEvents(rt, first.id, 'verification.expired');
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ status: 'expired', failure_reason: 'expired' });
    expect(await getVerification(rt.app, testKey, first.id)).toMatchObject({ status: 'expired', failure_reason: 'expired' });
  });

  it('a refused request (4xx) records no event', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey, liveKey } = await createIntegration(rt.app, { policy: { allowed_countries: ['BR'] } });
    expectProblem(await api(rt.app, testKey).post('/v1/verifications', { identifier: 'not an identifier' }), 400, 'validation-error');
    expectProblem(await api(rt.app, testKey).post('/v1/verifications', { identifier: '+14155552671' }), 403, 'forbidden-country');
    expectProblem(await api(rt.app, liveKey).post('/v1/verifications', { identifier: phone(), channel: 'whatsapp' }), 422, 'channel-unavailable');
    expectProblem(await api(rt.app, testKey).post(CHECK, { identifier: phone(), code: '123456' }), 404, 'not-found');
    expectProblem(await api(rt.app, testKey).post('/v1/verifications/ver_unknown/cancel'), 404, 'not-found');
    expect(await storedEvents(rt)).toEqual([]);
  });
});
