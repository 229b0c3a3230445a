/**
 * A charged live send whose delivery fails on every channel is refunded once, in the transaction
 * that records the last failure; a send that reaches its user on a later channel is not. Real
 * listening fakes of WhatsApp's Graph API and Twilio stand in for the providers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { refundFailedSend } from '../../src/billing/send-charge.js';
import { preparedTransaction } from '../../src/store/prepared.js';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { startFakeWhatsApp, whatsAppBehaviours, type FakeWhatsApp } from '../fakes/whatsapp.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { providerEnv, twilioSends, whatsAppSends } from '../live/support.js';
import { expectJson, phone, type DeliveryBody } from '../routes/support.js';
import { allTransactions, balanceOf, expectLedgerConsistent, topUp } from './support.js';

interface Setup {
  whatsapp: FakeWhatsApp;
  twilio: FakeTwilio;
  rt: TestRuntime;
  integration: TestIntegration;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<Setup> {
  const [whatsapp, twilio] = await Promise.all([startFakeWhatsApp(), startFakeTwilio()]);
  cleanups.push(async () => {
    await Promise.all([whatsapp.close(), twilio.close()]);
  });
  const rt = await startRuntime({ env: providerEnv({ whatsapp, twilio, extra: { OTPGATE_PROVIDER_BACKOFF_MS: '5' } }) });
  cleanups.push(() => rt.dispose());
  const integration = await createIntegration(rt.app, { name: 'Refunds', policy: { channels: ['whatsapp', 'sms'], billing: { enabled: true } } });
  await topUp(rt.app, integration.id, { amount: '1' });
  return { whatsapp, twilio, rt, integration };
}

async function sendAndDrain(s: Setup): Promise<{ id: string; deliveries: DeliveryBody[] }> {
  const client = api(s.rt.app, s.integration.liveKey);
  const sent = expectJson<{ id: string }>(await client.post('/v1/verifications', { identifier: phone() }), 201);
  await s.rt.worker.drain();
  return { id: sent.id, deliveries: expectJson<{ deliveries: DeliveryBody[] }>(await client.get(`/v1/verifications/${sent.id}`), 200).deliveries };
}

describe('refund of a send that failed on every channel', () => {
  it('WhatsApp and SMS both refuse the number: the debit is refunded once, the balance is whole again', async () => {
    const s = await setup();
    s.whatsapp.script(whatsAppBehaviours.undeliverable());
    s.twilio.script({ kind: 'error', status: 400, code: 21211, message: "The 'To' number is not a valid phone number." });

    const v = await sendAndDrain(s);
    expect(v.deliveries.map((d) => [d.channel, d.status])).toEqual([
      ['whatsapp', 'failed'],
      ['sms', 'failed'],
    ]);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(1);
    expect(twilioSends(s.twilio)).toHaveLength(1);

    expect(await balanceOf(s.rt.app, s.integration.liveKey)).toBe('1.0000');
    const entries = await allTransactions(s.rt.app, s.integration.liveKey);
    expect(entries.map((e) => [e.type, e.amount, e.reference])).toEqual(
      expect.arrayContaining([
        ['debit', '-0.0500', v.id],
        ['refund', '0.0500', v.id],
      ]),
    );
    expect(entries).toHaveLength(3); // top-up, debit, refund

    // A second refund of the same send (a redelivered failure, another process) changes nothing.
    const deps = { clock: s.rt.services.clock, random: s.rt.services.random };
    await preparedTransaction(s.rt.store, (trx) => refundFailedSend(trx, deps, { integrationId: s.integration.id, mode: 'live', verificationId: v.id }));
    await Promise.all(
      Array.from({ length: 4 }, () => preparedTransaction(s.rt.store, (trx) => refundFailedSend(trx, deps, { integrationId: s.integration.id, mode: 'live', verificationId: v.id }))),
    );
    expect(await allTransactions(s.rt.app, s.integration.liveKey)).toHaveLength(3);
    expect(await balanceOf(s.rt.app, s.integration.liveKey)).toBe('1.0000');
    await expectLedgerConsistent(s.rt.store, s.integration.id);
  });

  it('WhatsApp fails but SMS gets through: no refund', async () => {
    const s = await setup();
    s.whatsapp.script(whatsAppBehaviours.undeliverable());

    const v = await sendAndDrain(s);
    expect(v.deliveries.map((d) => [d.channel, d.status])).toEqual([
      ['whatsapp', 'failed'],
      ['sms', 'sent'],
    ]);
    expect(await balanceOf(s.rt.app, s.integration.liveKey)).toBe('0.9500');
    expect((await allTransactions(s.rt.app, s.integration.liveKey)).map((e) => e.type).sort()).toEqual(['debit', 'topup']);
  });
});
