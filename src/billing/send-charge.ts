import { problem, type Problem } from '../domain/errors.js';
import type { ServiceDeps, Tenant } from '../services/context.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Mode } from '../store/tables.js';
import { debit, refundDebit } from './ledger.js';
import { formatMoney } from './money.js';
import { lowThresholdOf } from './policy-billing.js';
import { priceOf, type PricedChannel } from './pricing.js';

/**
 * Sends on the prepaid balance (API.md "Balance and pricing"): with `billing.enabled`, a live send
 * debits the price of its first channel for the destination's country in the send's transaction
 * (resends and fallbacks to the next channel are not charged again); a send whose every channel
 * failed is refunded once, in the transaction that records the last failure.
 */

/** Thrown inside the send's transaction so it rolls back: nothing of the send is stored. */
export class BillingRefusal extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
    this.name = 'BillingRefusal';
  }
}

/** Whether a send of this tenant is charged: live mode with billing on (a test key never debits). */
export function sendIsCharged(tenant: Tenant): boolean {
  return tenant.mode === 'live' && tenant.policy.billing.enabled;
}

/**
 * Debits a send in the caller's transaction; throws BillingRefusal (402 `insufficient-balance`)
 * when the balance does not cover it. Call it before the send writes anything.
 */
export async function chargeSend(
  trx: QueryRunner,
  deps: Pick<ServiceDeps, 'random' | 'clock'>,
  tenant: Tenant,
  send: { verificationId: string; channel: PricedChannel; country: string | null },
): Promise<void> {
  const price = await priceOf(trx, send.channel, send.country);
  if (price === null || price === 0n) return; // free: nothing to record
  const charged = await debit(trx, deps, {
    integrationId: tenant.integrationId,
    mode: tenant.mode,
    units: price,
    reference: send.verificationId,
    description: `${send.channel} send${send.country ? ` to ${send.country}` : ''}`,
    lowThreshold: lowThresholdOf(tenant.policy),
  });
  if (!charged) {
    throw new BillingRefusal(problem('insufficient-balance', `The balance does not cover this send (${formatMoney(price)}); top it up.`, { price: formatMoney(price) }));
  }
}

/** Refunds a send once when its delivery failed on every channel (no-op in test mode, when never charged, or already refunded). */
export async function refundFailedSend(trx: QueryRunner, deps: Pick<ServiceDeps, 'random' | 'clock'>, send: { integrationId: string; mode: Mode; verificationId: string }): Promise<void> {
  if (send.mode !== 'live') return;
  await refundDebit(trx, deps, send.integrationId, send.verificationId, 'delivery failed on every channel');
}
