/**
 * The ledger is append-only and always sums to the balance, the balance is never negative, a send
 * is debited once and refunded at most once: a fast-check property over random sequences of
 * top-ups (some reusing a reference), sends, delivery failures (some refunded twice) and batches of
 * them run concurrently, on SQLite and on Postgres, through the billing code the server runs.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { credit } from '../../src/billing/ledger.js';
import { BillingRefusal, chargeSend, refundFailedSend } from '../../src/billing/send-charge.js';
import { cryptoRandom, systemClock } from '../../src/domain/clock.js';
import { newId } from '../../src/domain/ids.js';
import { effectivePolicy } from '../../src/domain/policy.js';
import type { Tenant } from '../../src/services/context.js';
import type { Store } from '../../src/store/database.js';
import { preparedTransaction } from '../../src/store/prepared.js';
import { eachDialect, storeDialects, useMigratedStore } from '../helpers/stores.js';
import { expectLedgerConsistent } from './support.js';

const deps = { clock: systemClock, random: cryptoRandom };

type Op =
  | { kind: 'topup'; units: number; ref: number }
  | { kind: 'send'; channel: 'whatsapp' | 'sms' | 'email'; country: 'BR' | 'US' | null }
  | { kind: 'fail'; pick: number };
type Step = Op | { kind: 'concurrent'; ops: Op[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('topup' as const), units: fc.integer({ min: 1, max: 3_000 }), ref: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('send' as const), channel: fc.constantFrom('whatsapp' as const, 'sms' as const, 'email' as const), country: fc.constantFrom('BR' as const, 'US' as const, null) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fail' as const), pick: fc.nat() }) },
);
const step: fc.Arbitrary<Step> = fc.oneof({ weight: 3, arbitrary: op }, { weight: 1, arbitrary: fc.record({ kind: fc.constant('concurrent' as const), ops: fc.array(op, { minLength: 2, maxLength: 8 }) }) });

interface Run {
  tenant: Tenant;
  sent: string[];
  charged: number;
  refusals: number;
}

async function apply(store: Store, run: Run, o: Op): Promise<void> {
  const integrationId = run.tenant.integrationId;
  if (o.kind === 'topup') {
    await preparedTransaction(store, (trx) => credit(trx, deps, { integrationId, mode: null, kind: 'topup', units: BigInt(o.units), reference: `ref-${o.ref}`, description: null }));
  } else if (o.kind === 'send') {
    const verificationId = newId('ver', deps.random);
    try {
      await preparedTransaction(store, (trx) => chargeSend(trx, deps, run.tenant, { verificationId, channel: o.channel, country: o.country }));
      run.sent.push(verificationId);
      run.charged += 1;
    } catch (error) {
      if (!(error instanceof BillingRefusal)) throw error;
      run.refusals += 1;
    }
  } else {
    // A failure of an earlier send (or of one never charged, when there is none yet); picks repeat, so some are refunded twice.
    const verificationId = run.sent.length > 0 ? (run.sent[o.pick % run.sent.length] as string) : newId('ver', deps.random);
    await preparedTransaction(store, (trx) => refundFailedSend(trx, deps, { integrationId, mode: 'live', verificationId }));
  }
}

eachDialect(storeDialects('ledger'))('ledger property ($name)', (dialect) => {
  const store = useMigratedStore(dialect);

  it('over random sequences of top-ups, sends, failures and concurrent batches, the ledger sums to the balance and never goes negative', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const integrationId = newId('int', deps.random);
        const run: Run = {
          tenant: { integrationId, name: 'prop', mode: 'live', keyId: 'key_x', policy: effectivePolicy('strict', { billing: { enabled: true, low_balance_threshold: '0.1000' } }) },
          sent: [],
          charged: 0,
          refusals: 0,
        };
        for (const s of steps) {
          if (s.kind === 'concurrent') await Promise.all(s.ops.map((o) => apply(store(), run, o)));
          else await apply(store(), run, s);
          await expectLedgerConsistent(store(), integrationId);
        }

        const entries = await store().db.selectFrom('ledger_entries').selectAll().where('integration_id', '=', integrationId).execute();
        const debits = entries.filter((e) => e.kind === 'debit');
        const refunds = entries.filter((e) => e.kind === 'refund');
        const topups = entries.filter((e) => e.kind === 'topup');
        expect(debits).toHaveLength(run.charged); // one debit per accepted send, none for a refusal
        expect(new Set(debits.map((e) => e.reference)).size).toBe(debits.length);
        expect(new Set(refunds.map((e) => e.reference)).size).toBe(refunds.length); // refunded at most once
        for (const r of refunds) {
          const d = debits.find((e) => e.reference === r.reference);
          expect(d, 'a refund has its debit').toBeDefined();
          expect(Number(r.amount)).toBe(-Number(d?.amount));
        }
        expect(new Set(topups.map((e) => e.reference)).size).toBe(topups.length); // a top-up reference is taken once
        for (const e of entries) {
          expect(e.balance_after >= 0).toBe(true);
          expect(e.kind === 'debit' ? e.amount < 0 : e.amount > 0).toBe(true);
        }
      }),
      { numRuns: 30 },
    );
  }, 120_000);

  it('sequentially, a send is refused exactly when the balance does not cover its price', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
        const integrationId = newId('int', deps.random);
        const run: Run = { tenant: { integrationId, name: 'prop', mode: 'live', keyId: 'key_x', policy: effectivePolicy('strict', { billing: { enabled: true } }) }, sent: [], charged: 0, refusals: 0 };
        const prices: Record<string, bigint> = { 'whatsapp:BR': 500n, 'whatsapp:US': 500n, 'whatsapp:null': 500n, 'sms:BR': 750n, 'sms:US': 100n, 'sms:null': 750n, 'email:BR': 10n, 'email:US': 10n, 'email:null': 10n };
        let model = 0n;
        const refs = new Set<number>();
        const charges = new Map<string, bigint>();
        const refunded = new Set<string>();
        for (const o of ops) {
          const before = { refusals: run.refusals, sent: run.sent.length };
          if (o.kind === 'topup' && !refs.has(o.ref)) {
            refs.add(o.ref);
            model += BigInt(o.units);
          }
          await apply(store(), run, o);
          if (o.kind === 'send') {
            const price = prices[`${o.channel}:${o.country}`] as bigint;
            expect(run.refusals > before.refusals).toBe(model < price);
            if (model >= price) {
              model -= price;
              charges.set(run.sent[run.sent.length - 1] as string, price);
            }
          }
          if (o.kind === 'fail' && before.sent > 0) {
            const id = run.sent[o.pick % run.sent.length] as string;
            if (!refunded.has(id)) {
              refunded.add(id);
              model += charges.get(id) as bigint;
            }
          }
          expect(await expectLedgerConsistent(store(), integrationId)).toBe(model);
        }
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});
