/**
 * The operator's number pool (`/admin/v1/sandbox/numbers`) and `source: "pool"` phone inboxes:
 * renting is atomic (concurrent rentals never share a number), a number comes back at finish,
 * cancel and expiry, and a rented number cannot be removed.
 */
import { describe, expect, it } from 'vitest';
import { deliverInbound } from '../../src/sandbox/inbox-intake.js';
import { sweepLapsedInboxes } from '../../src/services/inbox-sweeper.js';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration, type TestRuntime } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem } from '../routes/support.js';
import { createInbox, getInbox, inbound, type InboxBody } from './inbox-support.js';

const START = Date.UTC(2026, 4, 1, 10);

interface PoolNumber {
  number: string;
  label: string | null;
  country: string | null;
  rented_by: string | null;
}

async function pool(rt: TestRuntime): Promise<PoolNumber[]> {
  return expectJson<{ data: PoolNumber[] }>(await admin(rt.app).get('/admin/v1/sandbox/numbers'), 200).data;
}

describe('sandbox number pool', () => {
  it('operators add, list and remove numbers; bad and duplicate numbers are refused', async () => {
    const { rt } = await runtimeWithClock(START);
    const added = expectJson<PoolNumber>(await admin(rt.app).post('/admin/v1/sandbox/numbers', { number: '+55 11 98765-4321', label: 'SIM 1' }), 201);
    expect(added).toMatchObject({ number: '+5511987654321', label: 'SIM 1', country: 'BR', rented_by: null });
    expectProblem(await admin(rt.app).post('/admin/v1/sandbox/numbers', { number: '+5511987654321' }), 409, 'conflict');
    expect(expectProblem(await admin(rt.app).post('/admin/v1/sandbox/numbers', { number: 'not a phone' }), 400, 'validation-error').errors).toEqual({ number: ['invalid_phone'] });
    expect((await admin(rt.app, 'wrong-token-0123456789').get('/admin/v1/sandbox/numbers')).statusCode).toBe(401);
    expect(await pool(rt)).toHaveLength(1);
    expect((await admin(rt.app).delete(`/admin/v1/sandbox/numbers/${encodeURIComponent('+5511987654321')}`)).statusCode).toBe(204);
    expect(await pool(rt)).toEqual([]);
    expectProblem(await admin(rt.app).delete(`/admin/v1/sandbox/numbers/${encodeURIComponent('+5511987654321')}`), 404, 'not-found');
  });

  it('rents a pool number, refuses its removal while rented, and gets it back at finish', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    await admin(rt.app).post('/admin/v1/sandbox/numbers', { number: '+5511987650001' });
    const inbox = await createInbox(rt.app, testKey, { kind: 'phone', source: 'pool' });
    expect(inbox).toMatchObject({ address: '+5511987650001', source: 'pool', status: 'waiting' });
    expect((await pool(rt))[0]?.rented_by).toBe(inbox.id);
    const refused = expectProblem(await admin(rt.app).delete(`/admin/v1/sandbox/numbers/${encodeURIComponent('+5511987650001')}`), 409, 'invalid-state');
    expect(refused.rented_by).toBe(inbox.id);
    // None left → 422 no-number-available, and nothing is stored.
    expectProblem(await api(rt.app, testKey).post('/v1/sandbox/inboxes', { kind: 'phone', source: 'pool' }), 422, 'no-number-available');
    expect(expectJson<{ data: unknown[] }>(await api(rt.app, testKey).get('/v1/sandbox/inboxes'), 200).data).toHaveLength(1);
    // An SMS to the rented number lands in the inbox.
    expect(await deliverInbound(rt.services, inbound('+55 11 98765-0001', 'Seu código: 314159'))).toEqual({ inboxId: inbox.id });
    expect((await getInbox(rt.app, testKey, inbox.id)).otp_code).toBe('314159');
    expectJson(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${inbox.id}/finish`), 200);
    expect((await pool(rt))[0]?.rented_by).toBeNull();
    expect(await deliverInbound(rt.services, inbound('+5511987650001', 'code 271828'))).toBeNull();
    // Rented again by the next inbox.
    expect((await createInbox(rt.app, testKey, { kind: 'phone', source: 'pool' })).address).toBe('+5511987650001');
  });

  it('releases the number at cancel and at expiry, and filters by country', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    await admin(rt.app).post('/admin/v1/sandbox/numbers', { number: '+5511987650002' });
    await admin(rt.app).post('/admin/v1/sandbox/numbers', { number: '+12015550123' });
    expectProblem(await api(rt.app, testKey).post('/v1/sandbox/inboxes', { kind: 'phone', source: 'pool', country: 'MX' }), 422, 'no-number-available');
    const br = await createInbox(rt.app, testKey, { kind: 'phone', source: 'pool', country: 'BR' });
    expect(br.address).toBe('+5511987650002');
    expectJson(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${br.id}/cancel`), 200);
    expect((await pool(rt)).every((n) => n.rented_by === null)).toBe(true);
    const us = await createInbox(rt.app, testKey, { kind: 'phone', source: 'pool', country: 'us' });
    expect(us.address).toBe('+12015550123');
    clock.advance(20 * 60_000);
    expect(await sweepLapsedInboxes(rt.services)).toBe(1);
    expect((await pool(rt)).every((n) => n.rented_by === null)).toBe(true);
  });

  it('concurrent rentals never get the same number', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const numbers = ['+5511987650010', '+5511987650011', '+5511987650012'];
    for (const number of numbers) await admin(rt.app).post('/admin/v1/sandbox/numbers', { number });
    const answers = await Promise.all(Array.from({ length: 8 }, () => api(rt.app, testKey).post('/v1/sandbox/inboxes', { kind: 'phone', source: 'pool' })));
    const rented = answers.filter((a) => a.statusCode === 201).map((a) => (a.json() as InboxBody).address);
    expect(rented.sort()).toEqual(numbers);
    for (const refused of answers.filter((a) => a.statusCode !== 201)) expectProblem(refused, 422, 'no-number-available');
    const holders = (await pool(rt)).map((n) => n.rented_by);
    expect(new Set(holders).size).toBe(3);
    expect(holders.every((h) => h !== null)).toBe(true);
  });
});
