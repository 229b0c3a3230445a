import { fail, ok, problem, type Result } from '../domain/errors.js';
import type { ServiceDeps, Tenant } from '../services/context.js';
import type { QueryRunner } from '../store/prepared.js';
import { findEntry } from '../store/billing-repo.js';
import { debit, refundDebit } from './ledger.js';
import { formatMoney } from './money.js';
import { lowThresholdOf } from './policy-billing.js';
import { priceOf } from './pricing.js';

/**
 * Inbox rentals on the prepaid balance (API.md "Sandbox"): renting an inbox debits the catalog's
 * `inbox_phone` / `inbox_email` price for its country (or `*`), in the transaction that creates the
 * inbox; an inbox that expires without a code is refunded once. The ledger's reference is the inbox id.
 */

/** Debits an inbox rental when the tenant's policy has billing on; ok(undefined) when billing is off. */
export async function chargeInboxRental(
  trx: QueryRunner,
  deps: Pick<ServiceDeps, 'random' | 'clock'>,
  tenant: Tenant,
  input: { inboxId: string; kind: 'phone' | 'email'; country: string | null },
): Promise<Result<void>> {
  if (!tenant.policy.billing.enabled) return ok(undefined);
  const price = await priceOf(trx, input.kind === 'phone' ? 'inbox_phone' : 'inbox_email', input.country);
  if (price === null || price === 0n) return ok(undefined); // free: nothing to record
  if (await findEntry(trx, tenant.integrationId, 'debit', input.inboxId)) return ok(undefined); // already charged (a reorder)
  const charged = await debit(trx, deps, {
    integrationId: tenant.integrationId,
    mode: tenant.mode,
    units: price,
    reference: input.inboxId,
    description: `inbox rental (${input.kind}${input.country ? `, ${input.country}` : ''})`,
    lowThreshold: lowThresholdOf(tenant.policy),
  });
  if (!charged) return fail(problem('insufficient-balance', `The balance does not cover this inbox rental (${formatMoney(price)}).`, { price: formatMoney(price) }));
  return ok(undefined);
}

/** Refunds an inbox's rental once (no-op when it was never charged or is already refunded). */
export async function refundInboxRental(trx: QueryRunner, deps: Pick<ServiceDeps, 'random' | 'clock'>, integrationId: string, inboxId: string): Promise<void> {
  await refundDebit(trx, deps, integrationId, inboxId, 'inbox expired without a code');
}
