import { toIso, type Clock, type Random } from '../domain/clock.js';
import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { billingCurrency } from '../billing/currency.js';
import { credit } from '../billing/ledger.js';
import { MAX_BALANCE_UNITS, formatMoney, parseMoney, unitsOf } from '../billing/money.js';
import { BillingRefusal } from '../billing/send-charge.js';
import { findEntry, findEntryById, listEntries, readBalance, type LedgerEntryRow } from '../store/billing-repo.js';
import { IDEMPOTENT_RESOURCE, recordResource, type IdempotencyClaim } from '../store/idempotency-repo.js';
import { findIntegration } from '../store/integrations-repo.js';
import type { Db } from '../store/tables.js';
import type { Tenant } from './context.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

/** The prepaid balance of an integration (shared by its test and live keys) and its ledger. */

export interface BalanceView {
  balance: string;
  currency: string;
  billing_enabled: boolean;
  low_balance_threshold: string;
}

export interface LedgerEntryView {
  id: string;
  type: 'topup' | 'debit' | 'refund';
  amount: string;
  balance_after: string;
  currency: string;
  reference: string | null;
  description: string | null;
  mode: 'test' | 'live' | null;
  created_at: string;
}

export function presentEntry(row: LedgerEntryRow): LedgerEntryView {
  return {
    id: row.id,
    type: row.kind as LedgerEntryView['type'],
    amount: formatMoney(unitsOf(row.amount)),
    balance_after: formatMoney(unitsOf(row.balance_after)),
    currency: billingCurrency(),
    reference: row.reference === row.id ? null : row.reference, // a top-up given no reference is its own
    description: row.description,
    mode: row.mode,
    created_at: toIso(row.created_at),
  };
}

export async function getBalance(db: Db, tenant: Tenant): Promise<BalanceView> {
  return {
    balance: formatMoney(unitsOf(await readBalance(db, tenant.integrationId))),
    currency: billingCurrency(),
    billing_enabled: tenant.policy.billing.enabled,
    low_balance_threshold: tenant.policy.billing.low_balance_threshold,
  };
}

export async function listTransactions(db: Db, tenant: Tenant, page: { limit: number; cursor: string | undefined }): Promise<Result<Page<LedgerEntryView>>> {
  const after = decodeCursor(page.cursor);
  if (after === 'invalid') return fail(validationProblem('The cursor is not valid.', { cursor: ['invalid'] }));
  const rows = await listEntries(db, tenant.integrationId, page.limit, after);
  return ok(toPage(rows, page.limit, (r) => r.created_at, presentEntry));
}

export interface TopUpDeps {
  db: Db;
  clock: Clock;
  random: Random;
}

export interface TopUpAnswer {
  /** true: a top-up with this reference existed; it is answered as it was (200, nothing added). */
  replayed: boolean;
  entry: LedgerEntryView;
}

const REFERENCE_PATTERN = /^[\x21-\x7e]{1,200}$/;

/**
 * Adds to an integration's balance. Idempotent on `reference`: the same reference again answers
 * with the first top-up (nothing added); with another amount → 409 `conflict`. The Idempotency-Key
 * header is handled by the idempotency plugin, as on every POST; the top-up is recorded on its claim
 * in the top-up's transaction (see recordResource), so a retry after a crash answers with it.
 */
export async function topUp(deps: TopUpDeps, integrationId: string, input: { amount: string; reference?: string; description?: string }, claim?: IdempotencyClaim): Promise<Result<TopUpAnswer>> {
  const amount = parseMoney(input.amount);
  if (!amount.ok) return fail(validationProblem('amount must be a positive decimal string with at most four decimals (up to 1,000,000,000).', { amount: [amount.error] }));
  if (input.reference !== undefined && !REFERENCE_PATTERN.test(input.reference)) {
    return fail(validationProblem('reference must be 1–200 printable characters without spaces.', { reference: ['format'] }));
  }
  if (!(await findIntegration(deps.db, integrationId))) return fail(problem('not-found', 'No integration has this id.'));
  const id = newId('txn', deps.random, deps.clock.now());
  const reference = input.reference ?? id;
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const added = await credit(trx, deps, { integrationId, mode: null, kind: 'topup', units: amount.units, reference, id, description: input.description ?? null });
      if (added) {
        if (unitsOf(added.balance_after) > MAX_BALANCE_UNITS) {
          throw new BillingRefusal(validationProblem(`The balance may not exceed ${formatMoney(MAX_BALANCE_UNITS)}.`, { amount: ['too_large'] }));
        }
        // On an Idempotency-Key, in the same transaction: a retry after a crash answers with this top-up.
        if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.topup, added.id);
        return ok({ replayed: false, entry: presentEntry(added) });
      }
      const first = await findEntry(trx, integrationId, 'topup', reference);
      if (!first) throw new Error('a top-up reference conflicted with no entry');
      if (unitsOf(first.amount) !== amount.units) {
        return fail<TopUpAnswer>(problem('conflict', `A top-up with this reference exists with another amount (${formatMoney(unitsOf(first.amount))}).`, { existing: presentEntry(first) }));
      }
      return ok({ replayed: true, entry: presentEntry(first) });
    });
  } catch (error) {
    if (error instanceof BillingRefusal) return fail(error.problem);
    throw error;
  }
}

/** A top-up as its 201 showed it, for the replay of an Idempotency-Key whose first answer was lost (idempotency-resources.ts). */
export async function replayedTopUp(db: Db, id: string): Promise<(LedgerEntryView & { integration_id: string }) | null> {
  const row = await findEntryById(db, id);
  return row && row.kind === 'topup' ? { ...presentEntry(row), integration_id: row.integration_id } : null;
}
