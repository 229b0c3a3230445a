/**
 * Inbox rentals through the API with billing on: the rental is debited in the creation transaction
 * (402 stores nothing), a reorder charges nothing more, and an inbox that expires without a code
 * or is canceled (only possible while waiting) is refunded once; one that received a code is not,
 * nor one finished.
 */
import { describe, expect, it } from 'vitest';
import { deliverInbound } from '../../src/sandbox/inbox-intake.js';
import { sweepLapsedInboxes } from '../../src/services/inbox-sweeper.js';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem } from '../routes/support.js';
import { createInbox, inbound } from './inbox-support.js';

const START = Date.UTC(2026, 4, 1, 10);
const TTL = 20 * 60_000;

describe('inbox rentals on the balance', () => {
  it('debits once, refunds an inbox that expired without a code, and refuses what the balance cannot cover', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { id, testKey } = await createIntegration(rt.app, { policy: { billing: { enabled: true } } });
    expectJson(await admin(rt.app).post(`/admin/v1/integrations/${id}/topups`, { amount: '0.0150' }), 201);
    const balance = async () => expectJson<{ balance: string }>(await api(rt.app, testKey).get('/v1/balance'), 200).balance;

    const idle = await createInbox(rt.app, testKey, { kind: 'email' }); // inbox_email: 0.0100 by default
    expect(await balance()).toBe('0.0050');
    expectJson(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${idle.id}/reorder`), 200);
    expect(await balance()).toBe('0.0050');

    // 0.0050 left: a second rental is refused, and nothing is stored.
    expectProblem(await api(rt.app, testKey).post('/v1/sandbox/inboxes', { kind: 'email' }), 402, 'insufficient-balance');
    expect(expectJson<{ data: unknown[] }>(await api(rt.app, testKey).get('/v1/sandbox/inboxes'), 200).data).toHaveLength(1);

    clock.advance(TTL);
    expect(await sweepLapsedInboxes(rt.services)).toBe(1);
    expect(await balance()).toBe('0.0150');
    expect(await sweepLapsedInboxes(rt.services)).toBe(0);
    expect(await balance()).toBe('0.0150');

    const used = await createInbox(rt.app, testKey, { kind: 'email' });
    await deliverInbound(rt.services, inbound(used.address, 'code 123456'));
    clock.advance(TTL);
    expect(await sweepLapsedInboxes(rt.services)).toBe(1);
    expect(await balance()).toBe('0.0050');
  });

  it('refunds a canceled inbox once, and not a finished one', async () => {
    const { rt } = await runtimeWithClock(START);
    const { id, testKey } = await createIntegration(rt.app, { policy: { billing: { enabled: true } } });
    expectJson(await admin(rt.app).post(`/admin/v1/integrations/${id}/topups`, { amount: '0.0200' }), 201);
    const balance = async () => expectJson<{ balance: string }>(await api(rt.app, testKey).get('/v1/balance'), 200).balance;

    const canceled = await createInbox(rt.app, testKey, { kind: 'email' });
    expect(await balance()).toBe('0.0100');
    expectJson(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${canceled.id}/cancel`), 200);
    expect(await balance()).toBe('0.0200');
    expectProblem(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${canceled.id}/cancel`), 409, 'invalid-state');
    expect(await balance()).toBe('0.0200');

    const finished = await createInbox(rt.app, testKey, { kind: 'email' });
    expectJson(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${finished.id}/finish`), 200);
    expect(await balance()).toBe('0.0100');
    const kinds = expectJson<{ data: Array<{ type: string }> }>(await api(rt.app, testKey).get('/v1/balance/transactions'), 200).data.map((t) => t.type);
    expect(kinds.filter((k) => k === 'refund')).toHaveLength(1);
  });
});
