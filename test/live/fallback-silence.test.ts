/**
 * `policy.delivery.fallback_after_s`: WhatsApp accepts the message but no receipt comes; once the
 * deadline passes, the same code goes by SMS. A `delivered` receipt before it stops the fallback.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { signWhatsApp, startFakeWhatsApp, whatsAppStatusPayload, type FakeWhatsApp } from '../fakes/whatsapp.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, phone, type DeliveryBody } from '../routes/support.js';
import { WHATSAPP_APP_SECRET, eventsOf, metricsText, outboxOf, providerEnv, sampleSum, twilioSends, whatsAppCode, whatsAppSends } from './support.js';

type LiveDelivery = DeliveryBody;

let whatsapp: FakeWhatsApp;
let twilio: FakeTwilio;
let clock: ManualClock;
let rt: TestRuntime;
let integration: TestIntegration;

beforeEach(async () => {
  [whatsapp, twilio] = await Promise.all([startFakeWhatsApp(), startFakeTwilio()]);
  clock = new ManualClock(Date.now());
  rt = await startRuntime({ clock, env: providerEnv({ whatsapp, twilio }) });
  integration = await createIntegration(rt.app, { name: 'Silence', policy: { channels: ['whatsapp', 'sms'], delivery: { fallback_after_s: 30 } } });
});
afterEach(async () => {
  await rt?.dispose();
  await Promise.all([whatsapp?.close(), twilio?.close()]);
});

async function deliveries(id: string): Promise<LiveDelivery[]> {
  return expectJson<{ deliveries: LiveDelivery[] }>(await api(rt.app, integration.liveKey).get(`/v1/verifications/${id}`), 200).deliveries;
}

describe('fallback on silence (delivery.fallback_after_s)', () => {
  it('no receipt within 30 s: the same code goes by SMS once the deadline passes', async () => {
    const to = phone();
    const sent = expectJson<{ id: string }>(await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: to }), 201);
    await rt.worker.drain();
    expect(whatsAppSends(whatsapp)).toHaveLength(1);
    const code = whatsAppCode(whatsAppSends(whatsapp)[0]!.body);
    expect(await deliveries(sent.id)).toMatchObject([{ channel: 'whatsapp', status: 'sent', provider: 'whatsapp' }]);

    // A receipt check is scheduled 30 s out; before the deadline nothing moves.
    const timers = (await outboxOf(rt, integration.id)).filter((r) => r.kind === 'receipt_timeout');
    expect(timers).toHaveLength(1);
    expect(timers[0]!.available_at).toBe(clock.now() + 30_000);
    clock.advance(29_000);
    await rt.worker.drain();
    expect(twilioSends(twilio)).toHaveLength(0);

    clock.advance(2_000); // 31 s after the send
    await rt.worker.drain();

    const sms = twilioSends(twilio);
    expect(sms).toHaveLength(1);
    expect(sms[0]!.form.To).toBe(to);
    expect(sms[0]!.form.Body).toContain(code);
    expect(/^(\d+) /.exec(sms[0]!.form.Body ?? '')?.[1]).toBe(code);

    const after = await deliveries(sent.id);
    expect(after.map((d) => [d.channel, d.status])).toEqual([
      ['whatsapp', 'sent'],
      ['sms', 'sent'],
    ]);
    expect(after[0]!.error_code).toBe('no_receipt');
    // Silence is not a failure: no delivery_failed event.
    expect(await eventsOf(rt, sent.id, 'verification.delivery_failed')).toHaveLength(0);
    expect(sampleSum(await metricsText(rt), 'otpgate_delivery_fallbacks_total', { from: 'whatsapp', to: 'sms', reason: 'no_receipt' })).toBe(1);

    // The SMS (the last channel) schedules no further check; more time changes nothing.
    clock.advance(120_000);
    await rt.worker.drain();
    expect(twilioSends(twilio)).toHaveLength(1);
    expect(whatsAppSends(whatsapp)).toHaveLength(1);

    // The code both channels carried approves.
    expectJson(await api(rt.app, integration.liveKey).post('/v1/verifications/check', { verification_id: sent.id, code }), 200);
  });

  it('a `delivered` receipt before the deadline: nothing falls back', async () => {
    const sent = expectJson<{ id: string }>(await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: phone() }), 201);
    await rt.worker.drain();
    const [d] = (await deliveries(sent.id)) as [LiveDelivery];
    expect(d.status).toBe('sent');

    clock.advance(10_000);
    const raw = JSON.stringify(whatsAppStatusPayload(d.provider_message_id!, 'delivered'));
    const res = await rt.app.inject({
      method: 'POST',
      url: '/v1/providers/whatsapp/webhook',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsApp(WHATSAPP_APP_SECRET, raw) },
      payload: raw,
    });
    expect(expectJson(res, 200)).toEqual({ received: 1, matched: 1 });

    clock.advance(21_000); // 31 s after the send
    await rt.worker.drain();
    clock.advance(60_000);
    await rt.worker.drain();

    expect(twilioSends(twilio)).toHaveLength(0);
    expect((await deliveries(sent.id)).map((d) => [d.channel, d.status, d.error_code ?? null])).toEqual([['whatsapp', 'delivered', null]]);
    expect(sampleSum(await metricsText(rt), 'otpgate_delivery_fallbacks_total')).toBe(0);
  });

  it('an approved verification does not fall back when its deadline passes', async () => {
    const sent = expectJson<{ id: string }>(await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: phone() }), 201);
    await rt.worker.drain();
    const code = whatsAppCode(whatsAppSends(whatsapp)[0]!.body);
    expectJson(await api(rt.app, integration.liveKey).post('/v1/verifications/check', { verification_id: sent.id, code }), 200);

    clock.advance(31_000);
    await rt.worker.drain();
    expect(twilioSends(twilio)).toHaveLength(0);
    expect(await deliveries(sent.id)).toHaveLength(1);
  });

  it('a late `failed` receipt after the silence fallback records the failure but sends nothing twice', async () => {
    const sent = expectJson<{ id: string }>(await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: phone() }), 201);
    await rt.worker.drain();
    const wamid = (await deliveries(sent.id))[0]!.provider_message_id!;
    clock.advance(31_000);
    await rt.worker.drain();
    expect(twilioSends(twilio)).toHaveLength(1);

    const raw = JSON.stringify(whatsAppStatusPayload(wamid, 'failed', { errorCode: 131026 }));
    const res = await rt.app.inject({
      method: 'POST',
      url: '/v1/providers/whatsapp/webhook',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsApp(WHATSAPP_APP_SECRET, raw) },
      payload: raw,
    });
    expect(expectJson(res, 200)).toEqual({ received: 1, matched: 1 });
    await rt.worker.drain();

    expect(twilioSends(twilio)).toHaveLength(1);
    expect((await deliveries(sent.id)).map((d) => [d.channel, d.status, d.error_code ?? null])).toEqual([
      ['whatsapp', 'failed', '131026'],
      ['sms', 'sent', null],
    ]);
    expect(await eventsOf(rt, sent.id, 'verification.delivery_failed')).toHaveLength(1);
  });
});
