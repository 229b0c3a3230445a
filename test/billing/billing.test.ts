/**
 * Pricing, balance and billing through the HTTP API (API.md "Balance and pricing"; docs/billing.md):
 * top-ups, debits of live sends, 402 with nothing stored, concurrent sends that would overdraw,
 * balance.low once per crossing.
 */
import { describe, expect, it } from 'vitest';
import { api, createIntegration, type TestIntegration } from '../helpers/runtime.js';
import { admin, email, expectJson, expectProblem, phone, recordingChannels, useRuntime, usPhone } from '../routes/support.js';
import { allTransactions, balanceOf, expectLedgerConsistent, topUp, units, type LedgerEntryBody } from './support.js';

const live = recordingChannels('whatsapp', 'sms', 'email');
const runtime = useRuntime({ liveChannels: live.registry });

async function billed(threshold = '0.0000'): Promise<TestIntegration> {
  return createIntegration(runtime().app, { name: 'Billed', policy: { billing: { enabled: true, low_balance_threshold: threshold } } });
}

async function countRows(table: 'verifications' | 'outbox' | 'events', integrationId: string): Promise<number> {
  const rows = await runtime().store.db.selectFrom(table).select('id').where('integration_id', '=', integrationId).execute();
  return rows.length;
}

describe('pricing', () => {
  it('GET /v1/pricing shows the seeded catalog with the currency, a * row per channel', async () => {
    const i = await createIntegration(runtime().app);
    const body = expectJson<{ data: { channel: string; country: string; price: string; currency: string; product: string }[] }>(await api(runtime().app, i.testKey).get('/v1/pricing'), 200);
    for (const channel of ['whatsapp', 'sms', 'email', 'inbox_phone', 'inbox_email']) {
      expect(body.data.find((r) => r.channel === channel && r.country === '*'), channel).toBeDefined();
    }
    expect(body.data.find((r) => r.channel === 'whatsapp' && r.country === '*')).toMatchObject({ price: '0.0500', currency: 'USD', product: 'send' });
    expect(body.data.find((r) => r.channel === 'inbox_phone')).toMatchObject({ product: 'inbox_rental' });
    for (const row of body.data) expect(row.price).toMatch(/^\d+\.\d{4}$/);
  });

  it('PUT /admin/v1/pricing replaces the catalog; a missing * row, a duplicate or a bad price is a 400', async () => {
    const app = runtime().app;
    const put = (prices: unknown[]) => app.inject({ method: 'PUT', url: '/admin/v1/pricing', headers: { authorization: `Bearer ${ADMIN}` }, payload: { prices } });
    const before = expectJson<{ data: unknown[] }>(await admin(app).get('/admin/v1/pricing'), 200);
    const defaults = [
      { channel: 'whatsapp', country: '*', price: '0.05' },
      { channel: 'sms', country: '*', price: '0.075' },
      { channel: 'email', country: '*', price: '0' },
      { channel: 'inbox_phone', country: '*', price: '0.5' },
      { channel: 'inbox_email', country: '*', price: '0.01' },
    ];
    const missing = expectProblem(await put(defaults.slice(1)), 400, 'validation-error');
    expect(missing.errors).toMatchObject({ prices: ['missing_default:whatsapp'] });
    const dup = expectProblem(await put([...defaults, { channel: 'sms', country: '*', price: '1' }]), 400, 'validation-error');
    expect(dup.errors).toMatchObject({ 'prices/5': ['duplicate'] });
    const precise = expectProblem(await put([...defaults.slice(1), { channel: 'whatsapp', country: '*', price: '0.00001' }]), 400, 'validation-error');
    expect(precise.errors).toMatchObject({ 'prices/4/price': ['too_precise'] });
    expectProblem(await put([...defaults, { channel: 'sms', country: 'bra', price: '1' }]), 400, 'validation-error');
    expectProblem(await put([...defaults, { channel: 'fax', country: '*', price: '1' }]), 400, 'validation-error');
    expect(expectJson<{ data: unknown[] }>(await admin(app).get('/admin/v1/pricing'), 200)).toEqual(before); // nothing changed

    const after = expectJson<{ data: { channel: string; country: string; price: string }[] }>(await put([...defaults, { channel: 'whatsapp', country: 'BR', price: '0.0350' }]), 200);
    expect(after.data.map((r) => [r.channel, r.country, r.price])).toContainEqual(['whatsapp', 'BR', '0.0350']);
    expect(after.data.map((r) => [r.channel, r.country, r.price])).toContainEqual(['email', '*', '0.0000']);
    expect(after.data).toHaveLength(6);

    // Put the seeded catalog back: the other tests of this file price against it.
    const seeded = (before.data as { channel: string; country: string; price: string }[]).map(({ channel, country, price }) => ({ channel, country, price }));
    expect(expectJson<{ data: unknown[] }>(await put(seeded), 200).data).toHaveLength(seeded.length);
  });
});

const ADMIN = 'test-admin-token-0123456789abcdef';

describe('top-ups', () => {
  it('adds to the balance; the same reference answers with the first top-up; another amount → 409', async () => {
    const i = await createIntegration(runtime().app);
    expect(await balanceOf(runtime().app, i.testKey)).toBe('0.0000');
    const first = await topUp(runtime().app, i.id, { amount: '10.5', reference: 'inv-1' });
    expect(first).toMatchObject({ type: 'topup', amount: '10.5000', balance_after: '10.5000', reference: 'inv-1', currency: 'USD', mode: null });
    expect(first.id).toMatch(/^txn_/);
    const again = await topUp(runtime().app, i.id, { amount: '10.5000', reference: 'inv-1' }, 200);
    expect(again).toEqual(first);
    const conflict = expectProblem(await admin(runtime().app).post(`/admin/v1/integrations/${i.id}/topups`, { amount: '11', reference: 'inv-1' }), 409, 'conflict');
    expect(conflict.detail).toContain('10.5000');
    const second = await topUp(runtime().app, i.id, { amount: '0.0001' });
    expect(second.reference).toBeNull();
    // The balance is the integration's: both keys see it.
    expect(await balanceOf(runtime().app, i.testKey)).toBe('10.5001');
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('10.5001');
    await expectLedgerConsistent(runtime().store, i.id);
  });

  it('is idempotent on Idempotency-Key: a retry replays the answer and adds nothing', async () => {
    const i = await createIntegration(runtime().app);
    const headers = { 'idempotency-key': `topup-${i.id}` };
    const first = await topUp(runtime().app, i.id, { amount: '5' }, 201, headers);
    const res = await admin(runtime().app).post(`/admin/v1/integrations/${i.id}/topups`, { amount: '5' }, headers);
    expect(res.statusCode).toBe(201);
    expect(res.headers['idempotent-replayed']).toBe('true');
    expect((res.json() as LedgerEntryBody).id).toBe(first.id);
    expect(await balanceOf(runtime().app, i.testKey)).toBe('5.0000');
  });

  it('a top-up whose answer was lost with its process (committed, answer not stored): the retry answers with it, nothing added twice', async () => {
    const i = await createIntegration(runtime().app);
    const headers = { 'idempotency-key': `crashed-${i.id}` };
    const first = await topUp(runtime().app, i.id, { amount: '3' }, 201, headers);
    const db = runtime().store.db;
    const claim = () => db.selectFrom('idempotency_keys').selectAll().where('scope', '=', 'admin').where('key', '=', headers['idempotency-key']).executeTakeFirstOrThrow();
    expect(await claim()).toMatchObject({ resource_kind: 'topup', resource_id: first.id });
    // What a kill between the commit and the stored answer leaves: the claim in flight, its resource recorded.
    await db.updateTable('idempotency_keys').set({ status: 'in_flight', response_status: null, response_body: null }).where('scope', '=', 'admin').where('key', '=', headers['idempotency-key']).execute();
    const retried = await admin(runtime().app).post(`/admin/v1/integrations/${i.id}/topups`, { amount: '3' }, headers);
    expect([retried.statusCode, retried.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(retried.json()).toEqual({ ...first, integration_id: i.id });
    expect(await balanceOf(runtime().app, i.testKey)).toBe('3.0000');
    expect(await allTransactions(runtime().app, i.testKey)).toHaveLength(1);
  });

  it('refuses bad amounts and references (400), an unknown integration (404), no admin token (401)', async () => {
    const i = await createIntegration(runtime().app);
    const post = (body: unknown) => admin(runtime().app).post(`/admin/v1/integrations/${i.id}/topups`, body);
    for (const [amount, code] of [['0', 'zero'], ['-1', 'negative'], ['1.00001', 'too_precise'], ['1e3', 'format'], ['abc', 'format'], ['1000000000.0001', 'too_large']] as const) {
      const p = expectProblem(await post({ amount }), 400, 'validation-error');
      expect(p.errors, amount).toEqual({ amount: [code] });
    }
    expectProblem(await post({ amount: 5 }), 400, 'validation-error'); // a number, not a string: no floats
    expectProblem(await post({ amount: '5', reference: 'has space' }), 400, 'validation-error');
    expectProblem(await post({ amount: '5', extra: true }), 400, 'validation-error');
    expectProblem(await admin(runtime().app).post('/admin/v1/integrations/int_nope/topups', { amount: '5' }), 404, 'not-found');
    expectProblem(await runtime().app.inject({ method: 'POST', url: `/admin/v1/integrations/${i.id}/topups`, payload: { amount: '5' } }), 401, 'invalid-api-key');
    expect(await balanceOf(runtime().app, i.testKey)).toBe('0.0000');
  });
});

describe('billing of sends', () => {
  it('a live send debits the price of its first channel in its country; test keys and billing off debit nothing', async () => {
    const i = await billed();
    await topUp(runtime().app, i.id, { amount: '1' });
    const v = expectJson<{ id: string; channel: string }>(await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: phone() }), 201);
    expect(v.channel).toBe('whatsapp');
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('0.9500');
    const debit = (await allTransactions(runtime().app, i.liveKey)).find((t) => t.type === 'debit');
    expect(debit).toMatchObject({ type: 'debit', amount: '-0.0500', balance_after: '0.9500', reference: v.id, mode: 'live' });

    // US sms has its own row (0.0100) in the seeded catalog; email its default (0.0010).
    expectJson(await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: usPhone(), channel: 'sms' }), 201);
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('0.9400');
    expectJson(await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: email() }), 201);
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('0.9390');

    expectJson(await api(runtime().app, i.testKey).post('/v1/verifications', { identifier: phone() }), 201);
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('0.9390');

    const off = await createIntegration(runtime().app); // billing off (the default): free, even at 0
    expectJson(await api(runtime().app, off.liveKey).post('/v1/verifications', { identifier: phone() }), 201);
    expect(await allTransactions(runtime().app, off.liveKey)).toEqual([]);
    await expectLedgerConsistent(runtime().store, i.id);
  });

  it('a send the balance cannot cover → 402 insufficient-balance, with nothing stored and nothing sent', async () => {
    const i = await billed();
    await topUp(runtime().app, i.id, { amount: '0.0499' });
    const sentBefore = live.adapters.whatsapp!.jobs.length;
    const res = await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: phone() });
    const p = expectProblem(res, 402, 'insufficient-balance');
    expect(p.price).toBe('0.0500');
    await runtime().worker.drain();
    expect(await countRows('verifications', i.id)).toBe(0);
    expect(await countRows('outbox', i.id)).toBe(0);
    expect(await countRows('events', i.id)).toBe(0);
    expect(live.adapters.whatsapp!.jobs.length).toBe(sentBefore);
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('0.0499');
    expect((await allTransactions(runtime().app, i.liveKey)).map((t) => t.type)).toEqual(['topup']);
  });

  it('a 402 keeps the pending verification of the identifier (nothing superseded)', async () => {
    const i = await billed();
    await topUp(runtime().app, i.id, { amount: '0.05' });
    const to = phone();
    const first = expectJson<{ id: string }>(await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: to }), 201);
    expectProblem(await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: to }), 402, 'insufficient-balance');
    const still = expectJson<{ status: string }>(await api(runtime().app, i.liveKey).get(`/v1/verifications/${first.id}`), 200);
    expect(still.status).toBe('pending');
  });

  it('concurrent sends that would overdraw: exactly the covered number succeed, the rest get 402, never a negative balance', async () => {
    const i = await billed();
    await topUp(runtime().app, i.id, { amount: '0.15' }); // three sends at 0.0500
    const results = await Promise.all(Array.from({ length: 8 }, () => api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: phone() })));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, 201, 201, 402, 402, 402, 402, 402]);
    expect(await balanceOf(runtime().app, i.liveKey)).toBe('0.0000');
    expect(await countRows('verifications', i.id)).toBe(3);
    expect(await expectLedgerConsistent(runtime().store, i.id)).toBe(0n);
  });

  it('balance.low is recorded once per crossing of the threshold, with the balance as GET /v1/balance shows it', async () => {
    const i = await billed('0.1000');
    const lows = async () =>
      (await runtime().store.db.selectFrom('events').selectAll().where('integration_id', '=', i.id).where('type', '=', 'balance.low').orderBy('created_at').execute()).map(
        (e) => JSON.parse(e.data_json) as Record<string, string>,
      );
    const sendOne = async () => expectJson(await api(runtime().app, i.liveKey).post('/v1/verifications', { identifier: phone() }), 201);
    await topUp(runtime().app, i.id, { amount: '0.2' });
    await sendOne(); // 0.15
    await sendOne(); // 0.10: at the threshold, not under it
    expect(await lows()).toEqual([]);
    await sendOne(); // 0.05: crossed
    await sendOne(); // 0.00: still under, no second event
    expect(await lows()).toEqual([{ balance: '0.0500', currency: 'USD', low_balance_threshold: '0.1000' }]);
    await topUp(runtime().app, i.id, { amount: '0.2' }); // 0.20: above again
    await sendOne();
    await sendOne();
    await sendOne(); // 0.05: the second crossing
    const events = await lows();
    expect(events).toHaveLength(2);
    expect(events[1]).toEqual({ balance: '0.0500', currency: 'USD', low_balance_threshold: '0.1000' });
    const stored = await runtime().store.db.selectFrom('events').select('mode').where('integration_id', '=', i.id).where('type', '=', 'balance.low').execute();
    expect(stored.map((e) => e.mode)).toEqual(['live', 'live']);
  });
});

describe('GET /v1/balance/transactions', () => {
  it('pages newest first with a cursor; a bad cursor is a 400', async () => {
    const i = await createIntegration(runtime().app);
    for (let n = 1; n <= 5; n++) await topUp(runtime().app, i.id, { amount: String(n), reference: `ref-${n}` });
    const client = api(runtime().app, i.testKey);
    const first = expectJson<{ data: LedgerEntryBody[]; next_cursor: string | null }>(await client.get('/v1/balance/transactions?limit=2'), 200);
    expect(first.data).toHaveLength(2);
    expect(first.next_cursor).not.toBeNull();
    const all = await allTransactions(runtime().app, i.testKey);
    expect(all).toHaveLength(5);
    expect(new Set(all.map((t) => t.id)).size).toBe(5);
    expect(all.reduce((n, t) => n + units(t.amount), 0n)).toBe(units('15'));
    expect(all.map((t) => t.reference).sort()).toEqual(['ref-1', 'ref-2', 'ref-3', 'ref-4', 'ref-5']);
    expectProblem(await client.get('/v1/balance/transactions?cursor=garbage'), 400, 'validation-error');
    expectProblem(await client.get('/v1/balance/transactions?limit=0'), 400, 'validation-error');
  });
});
