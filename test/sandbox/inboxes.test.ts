/**
 * Sandbox inboxes through the API: renting, the state machine (every transition and every refusal),
 * reorder, and expiry on an injected clock. What lands in them: inbox-messages.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseIdentifier } from '../../src/domain/identifiers.js';
import { deliverInbound, acceptsAddress } from '../../src/sandbox/inbox-intake.js';
import { sweepLapsedInboxes } from '../../src/services/inbox-sweeper.js';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import { expectJson, expectProblem, useRuntime } from '../routes/support.js';
import { createInbox, getInbox, inbound, type InboxBody } from './inbox-support.js';

const START = Date.UTC(2026, 4, 1, 10);
const TTL = 20 * 60_000;
const runtime = useRuntime({ clock: frozenClock(START) });

describe('POST /v1/sandbox/inboxes', () => {
  it('rents a fictitious US number by default, and one of the asked country that otpgate accepts', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const us = await createInbox(rt.app, testKey, { kind: 'phone' });
    expect(us).toMatchObject({ kind: 'phone', source: 'generated', country: 'US', status: 'waiting', otp_code: null, otp_count: 0, expires_at: new Date(START + TTL).toISOString() });
    expect(us.address).toMatch(/^\+1\d{3}55501\d{2}$/);
    for (const country of ['GB', 'au', 'SE', 'FR', 'CA']) {
      const inbox = await createInbox(rt.app, testKey, { kind: 'phone', country });
      const parsed = parseIdentifier(inbox.address);
      expect(parsed.ok && parsed.identifier.country).toBe(country.toUpperCase());
      expect(inbox.country).toBe(country.toUpperCase());
    }
  });

  it('rents an address at the sandbox domain', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    expect(inbox.address).toMatch(/^inbox-[a-z2-9]{12}@sandbox\.otpgate\.test$/);
    expect(inbox.country).toBeNull();
    const listed = expectJson<{ data: InboxBody[]; next_cursor: string | null }>(await api(rt.app, testKey).get('/v1/sandbox/inboxes'), 200);
    expect(listed.data.map((i) => i.id)).toEqual([inbox.id]);
  });

  it('refuses a country without a fictitious range with 422 unsupported-country, naming those it has', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const body = expectProblem(await api(rt.app, testKey).post('/v1/sandbox/inboxes', { kind: 'phone', country: 'BR' }), 422, 'unsupported-country');
    expect(body.detail).toContain('BR');
    expect(body.supported_countries).toEqual(['AU', 'CA', 'FR', 'GB', 'SE', 'US']);
    expect(expectJson<{ data: unknown[] }>(await api(rt.app, testKey).get('/v1/sandbox/inboxes'), 200).data).toEqual([]);
  });

  it('refuses bad input with 400 validation-error', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const post = (body: unknown) => api(rt.app, testKey).post('/v1/sandbox/inboxes', body);
    expectProblem(await post({ kind: 'fax' }), 400, 'validation-error');
    expectProblem(await post({ kind: 'phone', extra: 1 }), 400, 'validation-error');
    expect(expectProblem(await post({ kind: 'email', country: 'US' }), 400, 'validation-error').errors).toEqual({ country: ['not_for_email'] });
    expect(expectProblem(await post({ kind: 'email', source: 'pool' }), 400, 'validation-error').errors).toEqual({ source: ['pool_is_for_phones'] });
    expect(expectProblem(await post({ kind: 'phone', country: '1!' }), 400, 'validation-error').errors).toEqual({ country: ['invalid_country'] });
    expect(expectProblem(await post({ kind: 'email', regex: '(' }), 400, 'validation-error').errors).toEqual({ regex: ['syntax'] });
    expect(expectProblem(await post({ kind: 'email', regex: '\\d*' }), 400, 'validation-error').errors).toEqual({ regex: ['matches_empty'] });
    expectProblem(await post({ kind: 'email', regex: 'x'.repeat(257) }), 400, 'validation-error');
  });

  it('answers live keys 403 test-mode-only on every inbox route', async () => {
    const rt = runtime();
    const { testKey, liveKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    const live = api(rt.app, liveKey);
    expectProblem(await live.post('/v1/sandbox/inboxes', { kind: 'email' }), 403, 'test-mode-only');
    expectProblem(await live.get('/v1/sandbox/inboxes'), 403, 'test-mode-only');
    expectProblem(await live.get(`/v1/sandbox/inboxes/${inbox.id}`), 403, 'test-mode-only');
    expectProblem(await live.get(`/v1/sandbox/inboxes/${inbox.id}?wait=5`), 403, 'test-mode-only');
    for (const action of ['finish', 'cancel', 'reorder']) expectProblem(await live.post(`/v1/sandbox/inboxes/${inbox.id}/${action}`), 403, 'test-mode-only');
  });

  it('404s an unknown inbox and another integration\'s', async () => {
    const rt = runtime();
    const a = await createIntegration(rt.app);
    const b = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, a.testKey, { kind: 'email' });
    expectProblem(await api(rt.app, b.testKey).get(`/v1/sandbox/inboxes/${inbox.id}`), 404, 'not-found');
    expectProblem(await api(rt.app, b.testKey).post(`/v1/sandbox/inboxes/${inbox.id}/finish`), 404, 'not-found');
    expectProblem(await api(rt.app, a.testKey).get('/v1/sandbox/inboxes/inb_doesNotExist'), 404, 'not-found');
    expectProblem(await api(rt.app, a.testKey).get('/v1/sandbox/inboxes/ver_x'), 400, 'validation-error');
  });
});

describe('inbox state machine', () => {
  const act = (rt: ReturnType<typeof runtime>, key: string, id: string, action: string) => api(rt.app, key).post(`/v1/sandbox/inboxes/${id}/${action}`);

  async function withCode(rt: ReturnType<typeof runtime>, key: string): Promise<InboxBody> {
    const inbox = await createInbox(rt.app, key, { kind: 'email' });
    expect(await deliverInbound(rt.services, inbound(inbox.address, 'Your code is 424242'))).toEqual({ inboxId: inbox.id });
    return inbox;
  }

  it('waiting → canceled; then nothing else', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    expect(expectJson<InboxBody>(await act(rt, testKey, inbox.id, 'cancel'), 200).status).toBe('canceled');
    for (const action of ['finish', 'cancel', 'reorder']) {
      expect(expectProblem(await act(rt, testKey, inbox.id, action), 409, 'invalid-state').status).toBe(409);
    }
    // A closed inbox takes no more messages, and its address is no longer accepted.
    expect(await acceptsAddress(rt.services, inbox.address)).toBe(false);
    expect(await deliverInbound(rt.services, inbound(inbox.address, 'code 111111'))).toBeNull();
  });

  it('waiting → finished; then nothing else', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'phone' });
    expect(expectJson<InboxBody>(await act(rt, testKey, inbox.id, 'finish'), 200).status).toBe('finished');
    for (const action of ['finish', 'cancel', 'reorder']) expectProblem(await act(rt, testKey, inbox.id, action), 409, 'invalid-state');
  });

  it('waiting → otp_received (code) → finished; cancel refused once a code arrived', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await withCode(rt, testKey);
    const got = await getInbox(rt.app, testKey, inbox.id);
    expect(got).toMatchObject({ status: 'otp_received', otp_code: '424242', otp_count: 1 });
    const refused = expectProblem(await act(rt, testKey, inbox.id, 'cancel'), 409, 'invalid-state');
    expect(refused.status).toBe(409);
    expect(refused.detail).toContain('otp_received');
    expect(expectJson<InboxBody>(await act(rt, testKey, inbox.id, 'finish'), 200)).toMatchObject({ status: 'finished', otp_code: '424242' });
    for (const action of ['finish', 'cancel', 'reorder']) expectProblem(await act(rt, testKey, inbox.id, action), 409, 'invalid-state');
  });

  it('reorder: otp_received → waiting, codes kept; the next code is added to the timeline', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await withCode(rt, testKey);
    const reordered = expectJson<InboxBody>(await act(rt, testKey, inbox.id, 'reorder'), 200);
    expect(reordered).toMatchObject({ status: 'waiting', otp_code: '424242', otp_count: 1 });
    // A reorder from waiting is allowed too (a fresh window).
    expect(expectJson<InboxBody>(await act(rt, testKey, inbox.id, 'reorder'), 200).status).toBe('waiting');
    await deliverInbound(rt.services, inbound(inbox.address, 'New code: 777 888'));
    const after = await getInbox(rt.app, testKey, inbox.id);
    expect(after).toMatchObject({ status: 'otp_received', otp_code: '777888', otp_count: 2 });
    expect(after.otps?.map((o) => o.code)).toEqual(['424242', '777888']);
    expect(after.messages?.map((m) => m.text)).toEqual(['Your code is 424242', 'New code: 777 888']);
  });

  it('a message without a code is kept and leaves the inbox waiting', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    await deliverInbound(rt.services, inbound(inbox.address, 'Welcome aboard!', { subject: 'Hello' }));
    const got = await getInbox(rt.app, testKey, inbox.id);
    expect(got).toMatchObject({ status: 'waiting', otp_code: null, otp_count: 0, otps: [] });
    expect(got.messages).toEqual([expect.objectContaining({ channel: 'email', from: 'sender@example.com', subject: 'Hello', text: 'Welcome aboard!', code: null })]);
    expect(expectJson<InboxBody>(await act(rt, testKey, inbox.id, 'cancel'), 200).status).toBe('canceled');
  });
});

describe('expiry (injected clock)', () => {
  it('the sweeper expires a waiting inbox at the end of its window, frees its address, and actions are refused', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    clock.advance(TTL - 1);
    expect(await sweepLapsedInboxes(rt.services)).toBe(0);
    expect((await getInbox(rt.app, testKey, inbox.id)).status).toBe('waiting');
    clock.advance(1);
    expect(await sweepLapsedInboxes(rt.services)).toBe(1);
    expect(await sweepLapsedInboxes(rt.services)).toBe(0);
    expect((await getInbox(rt.app, testKey, inbox.id)).status).toBe('expired');
    for (const action of ['finish', 'cancel', 'reorder']) {
      const refused = expectProblem(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${inbox.id}/${action}`), 409, 'invalid-state');
      expect(refused.detail).toContain('expired');
    }
    expect(await deliverInbound(rt.services, inbound(inbox.address, 'code 123456'))).toBeNull();
  });

  it('an inbox with a code expires too, keeping its codes', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    await deliverInbound(rt.services, inbound(inbox.address, 'code 123456'));
    clock.advance(TTL);
    expect(await sweepLapsedInboxes(rt.services)).toBe(1);
    expect(await getInbox(rt.app, testKey, inbox.id)).toMatchObject({ status: 'expired', otp_code: '123456', otp_count: 1 });
  });

  it('a read notices a lapsed inbox before the sweeper does, and records it once', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'phone' });
    clock.advance(TTL);
    expect((await getInbox(rt.app, testKey, inbox.id)).status).toBe('expired');
    expect(await sweepLapsedInboxes(rt.services)).toBe(0);
    const row = await rt.store.db.selectFrom('sandbox_inboxes').select(['status', 'open_address']).where('id', '=', inbox.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'expired', open_address: null });
  });

  it('reorder opens a new 20-minute window from the reorder', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    clock.advance(15 * 60_000);
    const reordered = expectJson<InboxBody>(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${inbox.id}/reorder`), 200);
    expect(reordered.expires_at).toBe(new Date(START + 15 * 60_000 + TTL).toISOString());
    clock.advance(TTL - 1);
    expect(await sweepLapsedInboxes(rt.services)).toBe(0);
    expect((await getInbox(rt.app, testKey, inbox.id)).status).toBe('waiting');
    clock.advance(1);
    expect(await sweepLapsedInboxes(rt.services)).toBe(1);
  });
});
