import type { Clock, Random } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { recordEvent } from '../services/record-event.js';
import { addToBalance, appendEntry, findEntry, settleEntry, takeFromBalance, type LedgerEntryRow } from '../store/billing-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Mode } from '../store/tables.js';
import { billingCurrency } from './currency.js';
import { formatMoney, unitsOf, unitsParam } from './money.js';

/**
 * The append-only ledger of an integration's prepaid balance: every change of the balance is one
 * entry (`topup | debit | refund`) written in the same transaction, with the signed amount and the
 * balance after it, so the entries always sum to the balance.
 *
 * Concurrency, on both stores:
 * - a debit is one conditional `UPDATE balances SET balance = balance - p WHERE … AND balance >= p
 *   RETURNING balance`: the store applies it to the row one writer at a time (Postgres row lock,
 *   SQLite's single writer), so concurrent debits can never take the balance under zero;
 * - a credit (top-up, refund) first appends its entry with `ON CONFLICT DO NOTHING` on
 *   `(integration, kind, reference)`, and moves the balance only when that appended a row: a second
 *   refund of the same debit, or a second top-up with the same reference, changes nothing.
 */

export type LedgerKind = 'topup' | 'debit' | 'refund';

export interface LedgerDeps {
  clock: Clock;
  random: Random;
}

export interface Debit {
  integrationId: string;
  mode: Mode;
  units: bigint;
  /** What it pays for: a verification id or an inbox id. */
  reference: string;
  description: string;
  /** The policy's `billing.low_balance_threshold` in units: a debit that takes the balance under it records `balance.low`. */
  lowThreshold: bigint;
}

/** Takes `units` from the balance and records the debit; false (nothing changed) when the balance does not cover it. */
export async function debit(trx: QueryRunner, deps: LedgerDeps, d: Debit): Promise<boolean> {
  const now = deps.clock.now();
  const after = await takeFromBalance(trx, d.integrationId, unitsParam(d.units), now);
  if (after === null) return false;
  const id = newId('txn', deps.random, now);
  const appended = await appendEntry(trx, {
    id,
    integration_id: d.integrationId,
    mode: d.mode,
    kind: 'debit',
    amount: unitsParam(-d.units),
    balance_after: after,
    reference: d.reference,
    description: d.description,
    created_at: now,
  });
  if (!appended) throw new Error('a reference was debited twice'); // callers debit new verifications and inboxes only
  const afterUnits = unitsOf(after);
  if (afterUnits < d.lowThreshold && afterUnits + d.units >= d.lowThreshold) {
    // Once per crossing: only the debit that goes from at-or-above to under the threshold records it.
    await recordEvent(trx, deps, { integrationId: d.integrationId, mode: d.mode }, 'balance.low', {
      balance: formatMoney(afterUnits),
      currency: billingCurrency(),
      low_balance_threshold: formatMoney(d.lowThreshold),
    }, now);
  }
  return true;
}

export interface Credit {
  integrationId: string;
  mode: Mode | null;
  kind: 'topup' | 'refund';
  units: bigint;
  reference: string;
  description: string | null;
  /** The entry's id (default a new `txn_` id): a top-up given no reference is its own reference. */
  id?: string;
}

/** Adds to the balance and records it, unless an entry of this kind and reference exists: the entry appended, or null. */
export async function credit(trx: QueryRunner, deps: LedgerDeps, c: Credit): Promise<LedgerEntryRow | null> {
  const now = deps.clock.now();
  const row: LedgerEntryRow = {
    id: c.id ?? newId('txn', deps.random, now),
    integration_id: c.integrationId,
    mode: c.mode,
    kind: c.kind,
    amount: unitsParam(c.units),
    balance_after: 0, // settled below, once the balance has moved
    reference: c.reference,
    description: c.description,
    created_at: now,
  };
  if (!(await appendEntry(trx, row))) return null;
  row.balance_after = await addToBalance(trx, c.integrationId, row.amount, now);
  await settleEntry(trx, row.id, row.balance_after);
  return row;
}

/** Refunds the debit of a reference once: no-op when it was never debited or is already refunded. */
export async function refundDebit(trx: QueryRunner, deps: LedgerDeps, integrationId: string, reference: string, description: string): Promise<boolean> {
  const charged = await findEntry(trx, integrationId, 'debit', reference);
  if (!charged) return false;
  const refunded = await credit(trx, deps, { integrationId, mode: charged.mode, kind: 'refund', units: -unitsOf(charged.amount), reference, description });
  return refunded !== null;
}
