/**
 * Provider callbacks end to end: the WhatsApp webhook (verify-token handshake, status updates
 * signed with the app secret) and Twilio's status callback (signed with the auth token over
 * OTPGATE_PUBLIC_URL + path), applied to the deliveries the live providers made.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilioSignature } from '../../src/delivery/providers/twilio-signature.js';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { signWhatsApp, startFakeWhatsApp, whatsAppStatusPayload, type FakeWhatsApp } from '../fakes/whatsapp.js';
import { frozenClock } from '../helpers/clock.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, expectProblem, phone, type DeliveryBody } from '../routes/support.js';
import {
  PUBLIC_URL,
  WHATSAPP_APP_SECRET,
  WHATSAPP_VERIFY_TOKEN,
  eventsOf,
  providerEnv,
  startSmtp,
  twilioSends,
  whatsAppCode,
  whatsAppSends,
  type TestSmtp,
} from './support.js';

type LiveDelivery = DeliveryBody;
interface LiveVerification {
  id: string;
  status: string;
  deliveries: LiveDelivery[];
}

const WEBHOOK = '/v1/providers/whatsapp/webhook';
const TWILIO_STATUS = '/v1/providers/twilio/status';

let whatsapp: FakeWhatsApp;
let twilio: FakeTwilio;
let smtp: TestSmtp;
let rt: TestRuntime;
/** Policy channels whatsapp, sms. */
let waFirst: TestIntegration;
/** Policy channels sms, email. */
let smsFirst: TestIntegration;

beforeAll(async () => {
  [whatsapp, twilio, smtp] = await Promise.all([startFakeWhatsApp(), startFakeTwilio(), startSmtp()]);
  rt = await startRuntime({ clock: frozenClock(Date.now()), env: providerEnv({ whatsapp, twilio, smtp, extra: { OTPGATE_PROVIDER_BACKOFF_MS: '5' } }) });
  waFirst = await createIntegration(rt.app, { name: 'Receipts WA', policy: { channels: ['whatsapp', 'sms'] } });
  smsFirst = await createIntegration(rt.app, { name: 'Receipts SMS', policy: { channels: ['sms', 'email'] } });
});
afterAll(async () => {
  await rt?.dispose();
  await Promise.all([whatsapp?.close(), twilio?.close(), smtp?.close()]);
});

async function view(integration: TestIntegration, id: string): Promise<LiveVerification> {
  return expectJson<LiveVerification>(await api(rt.app, integration.liveKey).get(`/v1/verifications/${id}`), 200);
}

/** Sends a live code and delivers it; returns the verification as the API shows it afterwards. */
async function sendLive(integration: TestIntegration, body: Record<string, unknown>): Promise<LiveVerification> {
  const sent = expectJson<LiveVerification>(await api(rt.app, integration.liveKey).post('/v1/verifications', body), 201);
  await rt.worker.drain();
  return view(integration, sent.id);
}

/** POSTs a WhatsApp webhook body; `signature` undefined = signed with the app secret, null = no header. */
function postWhatsApp(payload: unknown, signature?: string | null) {
  const raw = JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (signature !== null) headers['x-hub-signature-256'] = signature ?? signWhatsApp(WHATSAPP_APP_SECRET, raw);
  return rt.app.inject({ method: 'POST', url: WEBHOOK, headers, payload: raw });
}

/** POSTs a Twilio status callback signed over `signedUrl` (default: the public URL of the endpoint) with `authToken`. */
function postTwilio(params: Record<string, string>, opts: { authToken?: string; signedUrl?: string; signature?: string | null; contentType?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded', 'user-agent': 'TwilioProxy/1.1' };
  if (opts.signature !== null) {
    headers['x-twilio-signature'] = opts.signature ?? twilioSignature(opts.authToken ?? twilio.authToken, opts.signedUrl ?? `${PUBLIC_URL}${TWILIO_STATUS}`, params);
  }
  return rt.app.inject({ method: 'POST', url: TWILIO_STATUS, headers, payload: new URLSearchParams(params).toString() });
}

function twilioStatusParams(sid: string, to: string, status: string, extra: Record<string, string> = {}): Record<string, string> {
  return { SmsSid: sid, SmsStatus: status, MessageStatus: status, To: to, MessageSid: sid, AccountSid: twilio.accountSid, From: '+15005550006', ApiVersion: '2010-04-01', ...extra };
}

async function keptReceipts(providerMessageId: string) {
  return rt.store.db.selectFrom('delivery_receipts').selectAll().where('provider_message_id', '=', providerMessageId).execute();
}

describe('WhatsApp webhook', () => {
  it('answers the subscription handshake with hub.challenge when the verify token matches, 401 otherwise', async () => {
    const query = (token: string) => new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': '1158201444' }).toString();
    const good = await rt.app.inject({ method: 'GET', url: `${WEBHOOK}?${query(WHATSAPP_VERIFY_TOKEN)}` });
    expect(good.statusCode).toBe(200);
    expect(good.headers['content-type']).toMatch(/^text\/plain/);
    expect(good.body).toBe('1158201444');

    expectProblem(await rt.app.inject({ method: 'GET', url: `${WEBHOOK}?${query('not-the-verify-token')}` }), 401, 'invalid-signature');
    expectProblem(await rt.app.inject({ method: 'GET', url: `${WEBHOOK}?hub.mode=subscribe&hub.challenge=1` }), 401, 'invalid-signature');
  });

  it('a signed `delivered` status marks the delivery delivered and records verification.delivered', async () => {
    const v = await sendLive(waFirst, { identifier: phone() });
    const [d] = v.deliveries as [LiveDelivery];
    expect(d).toMatchObject({ channel: 'whatsapp', status: 'sent', provider: 'whatsapp' });
    expect(d.provider_message_id).toBe(whatsapp.sent.at(-1));

    const res = await postWhatsApp(whatsAppStatusPayload(d.provider_message_id!, 'delivered'));
    expect(expectJson(res, 200)).toEqual({ received: 1, matched: 1 });

    const after = await view(waFirst, v.id);
    expect(after.deliveries).toHaveLength(1);
    expect(after.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'delivered', provider_message_id: d.provider_message_id });
    expect(after.deliveries[0]!.delivered_at).not.toBeNull();
    const delivered = await eventsOf(rt, v.id, 'verification.delivered');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.data.delivery).toMatchObject({ channel: 'whatsapp', status: 'delivered', provider: 'whatsapp', provider_message_id: d.provider_message_id });

    // The same receipt again changes nothing and announces nothing twice.
    expect(expectJson(await postWhatsApp(whatsAppStatusPayload(d.provider_message_id!, 'delivered')), 200)).toEqual({ received: 1, matched: 1 });
    expect(await eventsOf(rt, v.id, 'verification.delivered')).toHaveLength(1);
  });

  it('a bad or missing X-Hub-Signature-256 is refused with 401 invalid-signature and changes nothing', async () => {
    const v = await sendLive(waFirst, { identifier: phone() });
    const wamid = v.deliveries[0]!.provider_message_id!;
    const payload = whatsAppStatusPayload(wamid, 'delivered');
    const raw = JSON.stringify(payload);

    expectProblem(await postWhatsApp(payload, signWhatsApp('some-other-app-secret', raw)), 401, 'invalid-signature');
    expectProblem(await postWhatsApp(payload, null), 401, 'invalid-signature');
    expectProblem(await postWhatsApp(payload, 'sha256=' + '0'.repeat(64)), 401, 'invalid-signature');
    // A signature of another body (the attacker changed the status).
    expectProblem(await postWhatsApp(payload, signWhatsApp(WHATSAPP_APP_SECRET, JSON.stringify(whatsAppStatusPayload(wamid, 'sent')))), 401, 'invalid-signature');

    const after = await view(waFirst, v.id);
    expect(after.deliveries[0]).toMatchObject({ status: 'sent', delivered_at: null });
    expect(await eventsOf(rt, v.id, 'verification.delivered')).toHaveLength(0);
    expect(await keptReceipts(wamid)).toHaveLength(0);
  });

  it('`read` counts as delivered', async () => {
    const v = await sendLive(waFirst, { identifier: phone() });
    const wamid = v.deliveries[0]!.provider_message_id!;
    expect(expectJson(await postWhatsApp(whatsAppStatusPayload(wamid, 'read')), 200)).toEqual({ received: 1, matched: 1 });
    expect((await view(waFirst, v.id)).deliveries[0]).toMatchObject({ status: 'delivered' });
    expect(await eventsOf(rt, v.id, 'verification.delivered')).toHaveLength(1);
  });

  it('a signed `failed` status fails the attempt and sends the same code by SMS', async () => {
    const to = phone();
    const smsBefore = twilioSends(twilio).length;
    const v = await sendLive(waFirst, { identifier: to });
    const wamid = v.deliveries[0]!.provider_message_id!;
    const code = whatsAppCode(whatsAppSends(whatsapp).at(-1)!.body);

    expect(expectJson(await postWhatsApp(whatsAppStatusPayload(wamid, 'failed', { errorCode: 131026 })), 200)).toEqual({ received: 1, matched: 1 });
    await rt.worker.drain();

    const after = await view(waFirst, v.id);
    expect(after.deliveries.map((d) => [d.channel, d.status, d.error_code ?? null])).toEqual([
      ['whatsapp', 'failed', '131026'],
      ['sms', 'sent', null],
    ]);
    const sms = twilioSends(twilio).slice(smsBefore);
    expect(sms).toHaveLength(1);
    expect(sms[0]!.form.To).toBe(to);
    expect(sms[0]!.form.Body).toContain(code);
  });

  it('a receipt that arrives before the send is recorded is kept, then applied when it is', async () => {
    // The provider calls back before the worker has committed the send: the fake is scripted to
    // answer the send with a wamid whose `delivered` receipt was posted first.
    const wamid = `wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI${randomBytes(8).toString('hex').toUpperCase()}`;
    const early = await postWhatsApp(whatsAppStatusPayload(wamid, 'delivered'));
    expect(expectJson(early, 200)).toEqual({ received: 1, matched: 0 });
    expect(await keptReceipts(wamid)).toHaveLength(1);

    const to = phone();
    whatsapp.script({
      kind: 'raw',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to.slice(1) }], messages: [{ id: wamid, message_status: 'accepted' }] }),
    });
    const v = await sendLive(waFirst, { identifier: to });
    expect(v.deliveries).toHaveLength(1);
    expect(v.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'delivered', provider: 'whatsapp', provider_message_id: wamid });
    expect(v.deliveries[0]!.delivered_at).not.toBeNull();
    expect(await eventsOf(rt, v.id, 'verification.delivered')).toHaveLength(1);
    expect(await keptReceipts(wamid)).toHaveLength(0);
  });

  it('a `failed` receipt that arrives before the send is recorded fails the attempt once it is, and falls back', async () => {
    const wamid = `wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI${randomBytes(8).toString('hex').toUpperCase()}`;
    expect(expectJson(await postWhatsApp(whatsAppStatusPayload(wamid, 'failed', { errorCode: 131049 })), 200)).toEqual({ received: 1, matched: 0 });

    const to = phone();
    const smsBefore = twilioSends(twilio).length;
    whatsapp.script({
      kind: 'raw',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to.slice(1) }], messages: [{ id: wamid }] }),
    });
    const v = await sendLive(waFirst, { identifier: to });
    const code = whatsAppCode(whatsAppSends(whatsapp).at(-1)!.body);
    expect(v.deliveries.map((d) => [d.channel, d.status, d.error_code ?? null])).toEqual([
      ['whatsapp', 'failed', '131049'],
      ['sms', 'sent', null],
    ]);
    const sms = twilioSends(twilio).slice(smsBefore);
    expect(sms).toHaveLength(1);
    expect(sms[0]!.form.Body).toContain(code);
    expect(await eventsOf(rt, v.id, 'verification.delivery_failed')).toHaveLength(1);
    expect(await keptReceipts(wamid)).toHaveLength(0);
  });
});

describe('Twilio status callback', () => {
  it('asks Twilio for callbacks at OTPGATE_PUBLIC_URL, and applies a signed `delivered`', async () => {
    const to = phone();
    const before = twilioSends(twilio).length;
    const v = await sendLive(smsFirst, { identifier: to });
    const calls = twilioSends(twilio).slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.form.StatusCallback).toBe(`${PUBLIC_URL}${TWILIO_STATUS}`);
    const [d] = v.deliveries as [LiveDelivery];
    expect(d).toMatchObject({ channel: 'sms', status: 'sent', provider: 'twilio' });
    expect(d.provider_message_id).toMatch(/^SM[0-9a-f]{32}$/);

    // Intermediate states change nothing.
    const sending = await postTwilio(twilioStatusParams(d.provider_message_id!, to, 'sending'));
    expect(sending.statusCode).toBe(204);
    expect((await view(smsFirst, v.id)).deliveries[0]).toMatchObject({ status: 'sent' });

    // Twilio posts its form with a charset parameter.
    const res = await postTwilio(twilioStatusParams(d.provider_message_id!, to, 'delivered'), { contentType: 'application/x-www-form-urlencoded; charset=utf-8' });
    expect(res.statusCode).toBe(204);
    const after = await view(smsFirst, v.id);
    expect(after.deliveries[0]).toMatchObject({ status: 'delivered' });
    expect(after.deliveries[0]!.delivered_at).not.toBeNull();
    const delivered = await eventsOf(rt, v.id, 'verification.delivered');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.data.delivery).toMatchObject({ channel: 'sms', provider: 'twilio', provider_message_id: d.provider_message_id });
  });

  it('a wrong or missing X-Twilio-Signature is refused with 401 and not applied', async () => {
    const to = phone();
    const v = await sendLive(smsFirst, { identifier: to });
    const sid = v.deliveries[0]!.provider_message_id!;
    const params = twilioStatusParams(sid, to, 'delivered');

    expectProblem(await postTwilio(params, { authToken: randomBytes(16).toString('hex') }), 401, 'invalid-signature');
    expectProblem(await postTwilio(params, { signature: null }), 401, 'invalid-signature');
    // Signed over another URL than OTPGATE_PUBLIC_URL + path.
    expectProblem(await postTwilio(params, { signedUrl: `http://localhost${TWILIO_STATUS}` }), 401, 'invalid-signature');
    // A valid signature of other parameters (the status was changed in transit).
    const forged = twilioSignature(twilio.authToken, `${PUBLIC_URL}${TWILIO_STATUS}`, twilioStatusParams(sid, to, 'sent'));
    expectProblem(await postTwilio(params, { signature: forged }), 401, 'invalid-signature');

    const after = await view(smsFirst, v.id);
    expect(after.deliveries[0]).toMatchObject({ status: 'sent', delivered_at: null });
    expect(await eventsOf(rt, v.id, 'verification.delivered')).toHaveLength(0);
    expect(await keptReceipts(sid)).toHaveLength(0);
  });

  it('`undelivered` with ErrorCode 30003 fails the SMS attempt and sends the same code by email', async () => {
    const reference = `cust-receipts-${Date.now()}`;
    const address = 'bia.receipts@example.com';
    expectJson(await api(rt.app, smsFirst.liveKey).post('/v1/identities', { reference, email: address }), 201);
    const to = phone();
    const before = twilioSends(twilio).length;
    const v = await sendLive(smsFirst, { identifier: to, identity_reference: reference });
    const sms = twilioSends(twilio).slice(before);
    expect(sms).toHaveLength(1);
    const code = /^(\d{6}) /.exec(sms[0]!.form.Body ?? '')?.[1];
    expect(code).toMatch(/^\d{6}$/);
    const sid = v.deliveries[0]!.provider_message_id!;
    expect(smtp.received.filter((m) => m.rcptTo.includes(address))).toHaveLength(0);

    const res = await postTwilio(twilioStatusParams(sid, to, 'undelivered', { ErrorCode: '30003', ErrorMessage: 'Unreachable destination handset' }));
    expect(res.statusCode).toBe(204);
    await rt.worker.drain();

    const after = await view(smsFirst, v.id);
    expect(after.deliveries.map((d) => [d.channel, d.provider, d.status, d.error_code ?? null])).toEqual([
      ['sms', 'twilio', 'failed', '30003'],
      ['email', 'smtp', 'sent', null],
    ]);
    expect(after.deliveries[0]!.failed_at).not.toBeNull();
    const mails = smtp.received.filter((m) => m.rcptTo.includes(address));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.mail.subject).toContain(code!);
    const failed = await eventsOf(rt, v.id, 'verification.delivery_failed');
    expect(failed.map((e) => [e.data.delivery.channel, e.data.delivery.error_code, e.data.next_channel])).toEqual([['sms', '30003', 'email']]);

    // The emailed code is the one the SMS carried: it approves.
    expectJson(await api(rt.app, smsFirst.liveKey).post('/v1/verifications/check', { verification_id: v.id, code }), 200);
  });
});
