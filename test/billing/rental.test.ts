/**
 * Inbox rentals on the balance (billing/rental.ts, called by the sandbox inboxes): a debit of the
 * catalog's inbox price with billing on, nothing with billing off, 402 when the balance does not
 * cover it, and a refund once for an inbox that expired without a code. On SQLite and Postgres.
 */
import { describe, expect, it } from 'vitest';
import { credit } from '../../src/billing/ledger.js';
import { chargeInboxRental, refundInboxRental } from '../../src/billing/rental.js';
import { cryptoRandom, systemClock } from '../../src/domain/clock.js';
import { newId } from '../../src/domain/ids.js';
import { effectivePolicy } from '../../src/domain/policy.js';
import type { Tenant } from '../../src/services/context.js';
import { preparedTransaction } from '../../src/store/prepared.js';
import { eachDialect, storeDialects, useMigratedStore } from '../helpers/stores.js';
import { expectLedgerConsistent } from './support.js';

const deps = { clock: systemClock, random: cryptoRandom };

function tenant(billing: boolean, mode: 'test' | 'live' = 'test', threshold = '0.0000'): Tenant {
  return { integrationId: newId('int', deps.random), name: 'rental', mode, keyId: 'key_x', policy: effectivePolicy('strict', { billing: { enabled: billing, low_balance_threshold: threshold } }) };
}

eachDialect(storeDialects('rental'))('inbox rentals ($name)', (dialect) => {
  const store = useMigratedStore(dialect);
  const topUp = (t: Tenant, units: bigint) => preparedTransaction(store(), (trx) => credit(trx, deps, { integrationId: t.integrationId, mode: null, kind: 'topup', units, reference: newId('txn', deps.random), description: null }));
  const entries = (t: Tenant) => store().db.selectFrom('ledger_entries').selectAll().where('integration_id', '=', t.integrationId).orderBy('created_at').execute();

  describe('chargeInboxRental', () => {
    it('debits the inbox price for its kind and country (* default), with the inbox id as reference', async () => {
      const t = tenant(true);
      await topUp(t, 10_000n);
      const phoneInbox = newId('inb', deps.random);
      const emailInbox = newId('inb', deps.random);
      expect(await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId: phoneInbox, kind: 'phone', country: 'BR' }))).toEqual({ ok: true, value: undefined });
      expect(await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId: emailInbox, kind: 'email', country: null }))).toEqual({ ok: true, value: undefined });
      const debits = (await entries(t)).filter((e) => e.kind === 'debit');
      expect(debits.map((e) => [e.reference, Number(e.amount), e.mode])).toEqual(
        expect.arrayContaining([
          [phoneInbox, -5_000, 'test'],
          [emailInbox, -100, 'test'],
        ]),
      );
      expect(await expectLedgerConsistent(store(), t.integrationId)).toBe(4_900n);
    });

    it('a second charge of the same inbox (a reorder) charges nothing more', async () => {
      const t = tenant(true);
      await topUp(t, 10_000n);
      const inboxId = newId('inb', deps.random);
      for (let n = 0; n < 2; n++) await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId, kind: 'email', country: null }));
      expect(await expectLedgerConsistent(store(), t.integrationId)).toBe(9_900n);
    });

    it('billing off: ok and nothing recorded, whatever the balance', async () => {
      const t = tenant(false);
      const result = await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId: newId('inb', deps.random), kind: 'phone', country: null }));
      expect(result).toEqual({ ok: true, value: undefined });
      expect(await entries(t)).toEqual([]);
    });

    it('a balance that does not cover it → insufficient-balance and nothing changed', async () => {
      const t = tenant(true);
      await topUp(t, 4_999n);
      const result = await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId: newId('inb', deps.random), kind: 'phone', country: null }));
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problem).toMatchObject({ type: 'insufficient-balance', extra: { price: '0.5000' } });
      expect((await entries(t)).map((e) => e.kind)).toEqual(['topup']);
      expect(await expectLedgerConsistent(store(), t.integrationId)).toBe(4_999n);
    });

    it('a rental that takes the balance under the threshold records balance.low in the key’s mode', async () => {
      const t = tenant(true, 'test', '1.0000');
      await topUp(t, 12_000n);
      await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId: newId('inb', deps.random), kind: 'phone', country: null }));
      const events = await store().db.selectFrom('events').selectAll().where('integration_id', '=', t.integrationId).execute();
      expect(events.map((e) => [e.type, e.mode, JSON.parse(e.data_json) as unknown])).toEqual([['balance.low', 'test', { balance: '0.7000', currency: 'USD', low_balance_threshold: '1.0000' }]]);
    });
  });

  describe('refundInboxRental', () => {
    it('refunds a charged inbox once, however often it is called, concurrent calls included', async () => {
      const t = tenant(true);
      await topUp(t, 10_000n);
      const inboxId = newId('inb', deps.random);
      await preparedTransaction(store(), (trx) => chargeInboxRental(trx, deps, t, { inboxId, kind: 'phone', country: null }));
      expect(await expectLedgerConsistent(store(), t.integrationId)).toBe(5_000n);
      await Promise.all(Array.from({ length: 5 }, () => preparedTransaction(store(), (trx) => refundInboxRental(trx, deps, t.integrationId, inboxId))));
      await preparedTransaction(store(), (trx) => refundInboxRental(trx, deps, t.integrationId, inboxId));
      const refunds = (await entries(t)).filter((e) => e.kind === 'refund');
      expect(refunds.map((e) => [e.reference, Number(e.amount), Number(e.balance_after)])).toEqual([[inboxId, 5_000, 10_000]]);
      expect(await expectLedgerConsistent(store(), t.integrationId)).toBe(10_000n);
    });

    it('an inbox never charged (billing off when it was rented) is a no-op', async () => {
      const t = tenant(true);
      await preparedTransaction(store(), (trx) => refundInboxRental(trx, deps, t.integrationId, newId('inb', deps.random)));
      expect(await entries(t)).toEqual([]);
    });
  });
});
