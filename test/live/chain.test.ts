/**
 * The whole live chain in one test: WhatsApp refuses the number for good → Twilio answers 5xx on
 * every try (three calls with OTPGATE_PROVIDER_RETRIES=2) → the same code reaches the identity's
 * email through a real SMTP server, and that code approves the verification.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { startFakeWhatsApp, whatsAppBehaviours, type FakeWhatsApp } from '../fakes/whatsapp.js';
import { api, createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, phone, type DeliveryBody } from '../routes/support.js';
import { eventsOf, metricsText, providerEnv, sampleSum, startSmtp, twilioSends, whatsAppCode, whatsAppSends, type TestSmtp } from './support.js';

type LiveDelivery = DeliveryBody;

let whatsapp: FakeWhatsApp;
let twilio: FakeTwilio;
let smtp: TestSmtp;
let clock: ManualClock;
let rt: TestRuntime;

// Each test its own clock, fakes and runtime: one moves time, and the other counts metrics from zero.
beforeEach(async () => {
  [whatsapp, twilio, smtp] = await Promise.all([startFakeWhatsApp(), startFakeTwilio(), startSmtp()]);
  clock = new ManualClock(Date.now());
  rt = await startRuntime({
    clock,
    env: providerEnv({ whatsapp, twilio, smtp, extra: { OTPGATE_PROVIDER_RETRIES: '2', OTPGATE_PROVIDER_BACKOFF_MS: '5' } }),
  });
});
afterEach(async () => {
  await rt?.dispose();
  await Promise.all([whatsapp?.close(), twilio?.close(), smtp?.close()]);
});

describe('live delivery chain', () => {
  it('WhatsApp 131026 → Twilio 5xx ×3 → email to the identity, and the emailed code approves', async () => {
    const integration = await createIntegration(rt.app, { name: 'Acme', policy: { channels: ['whatsapp', 'sms', 'email'] } });
    const client = api(rt.app, integration.liveKey);
    const reference = `cust-chain-${Date.now()}`;
    const address = 'ana.chain@example.com';
    expectJson(await client.post('/v1/identities', { reference, email: address }), 201);

    whatsapp.script(whatsAppBehaviours.undeliverable());
    twilio.script({ kind: 'server-error' }, { kind: 'server-error' }, { kind: 'server-error' });

    const to = phone();
    const sent = expectJson<{ id: string; channel: string; deliveries: LiveDelivery[] }>(
      await client.post('/v1/verifications', { identifier: to, identity_reference: reference }),
      201,
    );
    expect(sent.channel).toBe('whatsapp');
    expect(sent.deliveries).toHaveLength(1);
    expect(sent.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'queued', provider: null });

    await rt.worker.drain();

    // Each provider saw what it was meant to: one WhatsApp call, three Twilio calls, one email.
    const waCalls = whatsAppSends(whatsapp);
    expect(waCalls).toHaveLength(1);
    expect((waCalls[0]!.body as { to: string }).to).toBe(to);
    const code = whatsAppCode(waCalls[0]!.body);
    expect(code).toMatch(/^\d{6}$/);

    const smsCalls = twilioSends(twilio);
    expect(smsCalls).toHaveLength(3);
    for (const call of smsCalls) {
      expect(call.form.To).toBe(to);
      expect(call.form.Body).toContain(code);
    }

    expect(smtp.received).toHaveLength(1);
    const mail = smtp.received[0]!;
    expect(mail.rcptTo).toEqual([address]);
    expect(mail.mail.subject).toContain(code);
    expect(mail.mail.text).toContain(code);
    expect(mail.mail.text).toContain('Acme');
    const emailedCode = /\b(\d{6})\b/.exec(mail.mail.text ?? '')?.[1];
    expect(emailedCode).toBe(code);

    // The verification shows the three attempts, in order.
    const view = expectJson<{ status: string; deliveries: LiveDelivery[] }>(await client.get(`/v1/verifications/${sent.id}`), 200);
    expect(view.status).toBe('pending');
    expect(view.deliveries.map((d) => [d.channel, d.provider, d.status])).toEqual([
      ['whatsapp', 'whatsapp', 'failed'],
      ['sms', 'twilio', 'failed'],
      ['email', 'smtp', 'sent'],
    ]);
    const [wa, sms, email] = view.deliveries as [LiveDelivery, LiveDelivery, LiveDelivery];
    expect(wa.error_code).toBe('131026');
    expect(wa.failed_at).not.toBeNull();
    // The Twilio adapter reports Twilio's own error code from the 5xx body ({code: 20500, …}).
    expect(sms.error_code).toBe('20500');
    expect(sms.error).toMatch(/HTTP 500/);
    expect(sms.failed_at).not.toBeNull();
    expect(email.error_code).toBeUndefined();
    expect(email.sent_at).not.toBeNull();
    expect(email.provider_message_id).toBe(mail.mail.messageId);
    // No error text carries the code.
    for (const d of view.deliveries) expect(d.error ?? '').not.toContain(code);

    // Each failed attempt was announced, naming the next channel.
    const failed = await eventsOf(rt, sent.id, 'verification.delivery_failed');
    expect(failed.map((e) => [e.mode, e.data.delivery.channel, e.data.delivery.status, e.data.delivery.error_code, e.data.next_channel])).toEqual([
      ['live', 'whatsapp', 'failed', '131026', 'sms'],
      ['live', 'sms', 'failed', '20500', 'email'],
    ]);
    for (const e of failed) expect(JSON.stringify(e.data)).not.toContain(code);

    const metrics = await metricsText(rt);
    expect(sampleSum(metrics, 'otpgate_delivery_fallbacks_total', { from: 'whatsapp', to: 'sms', reason: '131026' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_delivery_fallbacks_total', { from: 'sms', to: 'email', reason: '20500' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_provider_attempts_total', { provider: 'twilio', channel: 'sms', result: 'failed' })).toBe(3);

    // The emailed code approves.
    const check = expectJson<{ status: string; verification_id: string }>(await client.post('/v1/verifications/check', { verification_id: sent.id, code: emailedCode }), 200);
    expect(check).toMatchObject({ status: 'approved', verification_id: sent.id });
  });

  it('a resend after WhatsApp refused the number for good still reaches the user', async () => {
    // WhatsApp answered 131026 (not a WhatsApp user) and the code went by SMS. Resending to
    // WhatsApp alone, with no channel after it, cannot reach anyone.
    const integration = await createIntegration(rt.app, { name: 'Resend', policy: { channels: ['whatsapp', 'sms'], limits: { resend_cooldown_s: 1 } } });
    const client = api(rt.app, integration.liveKey);
    whatsapp.script(whatsAppBehaviours.undeliverable(), whatsAppBehaviours.undeliverable());
    const sent = expectJson<{ id: string }>(await client.post('/v1/verifications', { identifier: phone() }), 201);
    await rt.worker.drain();
    const first = expectJson<{ deliveries: LiveDelivery[] }>(await client.get(`/v1/verifications/${sent.id}`), 200).deliveries;
    expect(first.map((d) => [d.channel, d.status])).toEqual([
      ['whatsapp', 'failed'],
      ['sms', 'sent'],
    ]);

    clock.advance(2_000);
    expectJson(await client.post(`/v1/verifications/${sent.id}/resend`, {}), 200);
    await rt.worker.drain();
    const after = expectJson<{ deliveries: LiveDelivery[] }>(await client.get(`/v1/verifications/${sent.id}`), 200).deliveries;
    const resent = after.slice(first.length);
    expect(resent.length).toBeGreaterThan(0);
    // Some attempt of the resend was accepted by a provider (shown with channel and error on failure).
    expect(resent.map((d) => `${d.channel}:${d.status}:${d.error_code ?? ''}`)).toEqual(expect.arrayContaining([expect.stringMatching(/^\w+:(sent|delivered):$/)]));
  });
});
