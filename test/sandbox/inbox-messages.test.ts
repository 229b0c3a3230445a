/**
 * What lands in sandbox inboxes: test-mode sends (through the outbox worker) to an inbox's number or
 * address, messages from outside (the intake contract), redeliveries, the inbox regex (and a
 * catastrophic one cut off in time), and `sandbox.message_received`.
 */
import { describe, expect, it } from 'vitest';
import { acceptsAddress, deliverInbound } from '../../src/sandbox/inbox-intake.js';
import { frozenClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import { storedEvents } from '../events/support.js';
import { expectJson, send, useRuntime, type SandboxMessage } from '../routes/support.js';
import { createInbox, getInbox, inbound } from './inbox-support.js';

const START = Date.UTC(2026, 4, 1, 10);
const runtime = useRuntime({ clock: frozenClock(START) });

describe('messages landing in inboxes', () => {
  it('a test-mode send to an inbox number lands in the inbox and in /v1/sandbox/messages', async () => {
    const rt = runtime();
    const { id: integrationId, testKey } = await createIntegration(rt.app, { name: 'Landing' });
    const inbox = await createInbox(rt.app, testKey, { kind: 'phone', country: 'GB' });
    const verification = await send(rt.app, testKey, { identifier: inbox.address, channel: 'sms' });
    await rt.worker.drain();
    const captured = expectJson<{ data: SandboxMessage[] }>(await api(rt.app, testKey).get(`/v1/sandbox/messages?to=${encodeURIComponent(inbox.address)}`), 200).data;
    expect(captured).toHaveLength(1);
    const code = captured[0]?.code as string;
    expect(code).toMatch(/^\d{6}$/);
    const got = await getInbox(rt.app, testKey, inbox.id);
    expect(got).toMatchObject({ status: 'otp_received', otp_code: code, otp_count: 1 });
    expect(got.messages?.[0]).toMatchObject({ channel: 'sms', from: 'Landing', code });
    expect(got.messages?.[0]?.text).toContain(code);
    // Captured, landed and announced in the worker's one write.
    const events = await storedEvents(rt, { type: 'sandbox.message_received', integrationId });
    expect(events.map((e) => e.data)).toEqual([expect.objectContaining({ inbox_id: inbox.id, otp_code: code })]);
    // The code checks like any other.
    const check = await api(rt.app, testKey).post('/v1/verifications/check', { verification_id: verification.id, code });
    expect(expectJson<{ status: string }>(check, 200).status).toBe('approved');
  });

  it('a test-mode send to an inbox address (any case) lands in it, with its subject', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app, { name: 'Mailer' });
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    await send(rt.app, testKey, { identifier: inbox.address.toUpperCase().replace('@SANDBOX.OTPGATE.TEST', '@sandbox.otpgate.test') });
    await rt.worker.drain();
    const got = await getInbox(rt.app, testKey, inbox.id);
    expect(got.status).toBe('otp_received');
    expect(got.messages?.[0]?.channel).toBe('email');
    expect(got.messages?.[0]?.subject).toContain('Mailer');
    const captured = expectJson<{ data: SandboxMessage[] }>(await api(rt.app, testKey).get('/v1/sandbox/messages'), 200).data;
    expect(captured[0]?.code).toBe(got.otp_code);
  });

  it('another integration\'s test-mode send to the address does not land', async () => {
    const rt = runtime();
    const owner = await createIntegration(rt.app);
    const other = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, owner.testKey, { kind: 'email' });
    await send(rt.app, other.testKey, { identifier: inbox.address });
    await rt.worker.drain();
    expect((await getInbox(rt.app, owner.testKey, inbox.id)).messages).toEqual([]);
  });

  it('records sandbox.message_received with the inbox id and otp_code, never the message body', async () => {
    const rt = runtime();
    const { id: integrationId, testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    await deliverInbound(rt.services, inbound(inbox.address, 'Secret body text; your code is 515151', { subject: 'Private subject' }));
    const events = await storedEvents(rt, { type: 'sandbox.message_received', integrationId });
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event?.mode).toBe('test');
    expect(event?.data).toMatchObject({ inbox_id: inbox.id, otp_code: '515151', status: 'otp_received', otp_count: 1 });
    expect(event?.data_json).not.toContain('Secret body');
    expect(event?.data_json).not.toContain('Private subject');
  });

  it('a redelivery with the same source id is stored once', async () => {
    const rt = runtime();
    const { id: integrationId, testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'phone' });
    const message = inbound(inbox.address, 'code 909090', { sourceId: 'SM123' });
    expect(await deliverInbound(rt.services, message)).toEqual({ inboxId: inbox.id });
    expect(await deliverInbound(rt.services, message)).toEqual({ inboxId: inbox.id });
    expect(await getInbox(rt.app, testKey, inbox.id)).toMatchObject({ otp_count: 1, messages: [expect.objectContaining({ code: '909090' })] });
    expect(await storedEvents(rt, { type: 'sandbox.message_received', integrationId })).toHaveLength(1);
  });

  it('an address no open inbox holds is refused', async () => {
    const rt = runtime();
    expect(await acceptsAddress(rt.services, 'nobody@sandbox.otpgate.test')).toBe(false);
    expect(await deliverInbound(rt.services, inbound('nobody@sandbox.otpgate.test', 'code 123456'))).toBeNull();
    expect(await deliverInbound(rt.services, inbound('not an address', 'code 123456'))).toBeNull();
  });
});

describe('inbox regex', () => {
  it('overrides the default extractor', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email', regex: 'PIN is (?<code>[A-Z]{2}-\\d{4})' });
    expect(inbox.regex).toBe('PIN is (?<code>[A-Z]{2}-\\d{4})');
    await deliverInbound(rt.services, inbound(inbox.address, 'Order 123456: your PIN is QX-4821.'));
    expect(await getInbox(rt.app, testKey, inbox.id)).toMatchObject({ status: 'otp_received', otp_code: 'QX-4821' });
    // The default extractor would have taken the order number.
    const plain = await createInbox(rt.app, testKey, { kind: 'email' });
    await deliverInbound(rt.services, inbound(plain.address, 'Order 123456: your PIN is QX-4821.'));
    expect((await getInbox(rt.app, testKey, plain.id)).otp_code).toBe('123456');
  });

  it('a catastrophic pattern is cut off in time: the message is stored with no code', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email', regex: '^(a+)+$' });
    const started = performance.now();
    expect(await deliverInbound(rt.services, inbound(inbox.address, `${'a'.repeat(40)}!`))).toEqual({ inboxId: inbox.id });
    expect(performance.now() - started).toBeLessThan(2_000);
    const got = await getInbox(rt.app, testKey, inbox.id);
    expect(got).toMatchObject({ status: 'waiting', otp_code: null });
    expect(got.messages).toEqual([expect.objectContaining({ text: `${'a'.repeat(40)}!`, code: null })]);
    // The process is still healthy: the next message with a match is read.
    await deliverInbound(rt.services, inbound(inbox.address, 'aaaa'));
    expect((await getInbox(rt.app, testKey, inbox.id)).otp_code).toBe('aaaa');
  });
});
