import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { sweepExpired } from '../../src/services/expiry-sweeper.js';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, getVerification, phone, sendAndCapture, type CheckBody } from '../routes/support.js';
import { storedEvents } from './support.js';

const START = Date.UTC(2026, 2, 3, 15);
const CHECK = '/v1/verifications/check';

/**
 * Makes the store refuse to record events of `type` (a trigger that raises on their INSERT), so the
 * statement after the state change fails; returns the undo. Whatever the state change wrote in the
 * same transaction must be rolled back with it.
 */
async function refuseEvents(rt: TestRuntime, type: string): Promise<() => Promise<void>> {
  const db = rt.store.db;
  if (rt.store.dialect === 'postgres') {
    await sql.raw(`create or replace function otpg_refuse_event() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$`).execute(db);
    await sql.raw(`create trigger otpg_refuse_event after insert on events for each row when (new.type = '${type}') execute function otpg_refuse_event()`).execute(db);
    return async () => {
      await sql.raw('drop trigger otpg_refuse_event on events').execute(db);
    };
  }
  await sql.raw(`create trigger otpg_refuse_event after insert on events when new.type = '${type}' begin select raise(abort, 'injected failure'); end`).execute(db);
  return async () => {
    await sql.raw('drop trigger otpg_refuse_event').execute(db);
  };
}

describe('an event and the change that causes it are one transaction: the event failing undoes the change', () => {
  it('verification.created: no verification, no delivery queued', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const to = phone();
    const undo = await refuseEvents(rt, 'verification.created');
    const res = await api(rt.app, testKey).post('/v1/verifications', { identifier: to });
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    expect(await rt.store.db.selectFrom('verifications').select('id').where('identifier', '=', to).execute()).toEqual([]);
    expect(await rt.store.db.selectFrom('outbox').select('id').execute()).toEqual([]);
    expect(await rt.store.db.selectFrom('deliveries').select('id').execute()).toEqual([]);
    await undo();
    const created = expectJson<{ id: string }>(await api(rt.app, testKey).post('/v1/verifications', { identifier: to }), 201);
    expect((await storedEvents(rt)).map((e) => [e.type, e.data.id])).toEqual([['verification.created', created.id]]);
  });

  it('verification.approved: the code stays unused and no session exists, so the same code approves afterwards', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const to = phone();
    const { verification, code } = await sendAndCapture(rt, testKey, { identifier: to });
    const undo = await refuseEvents(rt, 'verification.approved');
    expect((await api(rt.app, testKey).post(CHECK, { identifier: to, code })).statusCode).toBeGreaterThanOrEqual(500);
    expect(await getVerification(rt.app, testKey, verification.id)).toMatchObject({ status: 'pending' });
    expect(await rt.store.db.selectFrom('sessions').select('id').execute()).toEqual([]);
    await undo();
    expectJson<CheckBody>(await api(rt.app, testKey).post(CHECK, { identifier: to, code }), 200);
    expect(await storedEvents(rt, { type: 'verification.approved' })).toHaveLength(1);
  });

  it('verification.canceled: the verification stays pending', async () => {
    const { rt } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app);
    const { verification } = await sendAndCapture(rt, testKey, { identifier: phone() });
    const undo = await refuseEvents(rt, 'verification.canceled');
    expect((await api(rt.app, testKey).post(`/v1/verifications/${verification.id}/cancel`)).statusCode).toBeGreaterThanOrEqual(500);
    expect(await getVerification(rt.app, testKey, verification.id)).toMatchObject({ status: 'pending' });
    await undo();
    expectJson(await api(rt.app, testKey).post(`/v1/verifications/${verification.id}/cancel`), 200);
    expect(await storedEvents(rt, { type: 'verification.canceled' })).toHaveLength(1);
  });

  it('verification.expired by the sweeper: the row stays pending in the store until a sweep can record it', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { code: { ttl_s: 30 } } });
    const { verification } = await sendAndCapture(rt, testKey, { identifier: phone() });
    clock.advance(30_000);
    const undo = await refuseEvents(rt, 'verification.expired');
    await expect(sweepExpired(rt.services)).rejects.toThrow(/injected failure/);
    const stored = async () => (await rt.store.db.selectFrom('verifications').select('status').where('id', '=', verification.id).executeTakeFirstOrThrow()).status;
    expect(await stored()).toBe('pending');
    await undo();
    expect(await sweepExpired(rt.services)).toBe(1);
    expect(await stored()).toBe('expired');
    expect(await storedEvents(rt, { type: 'verification.expired' })).toHaveLength(1);
  });
});
