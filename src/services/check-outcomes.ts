import type { FailureRule } from '../limits/limits.js';
import { deliveriesOf } from '../store/deliveries-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import { findVerification, recordWrongCode, transitionFromPendingReturning } from '../store/verifications-repo.js';
import type { ServiceDeps, Tenant } from './context.js';
import { recordIdentifierLocked } from './lockout-event.js';
import { recordVerificationEvent } from './verification-events.js';

/**
 * What a check's outcome writes: the state change and, in its transaction, the events it causes
 * (each only when this writer's conditional UPDATE made the change, so one change gives one event).
 */

/** The conditional move to `approved` and its `verification.approved`, in the approving transaction. */
export async function markApproved(trx: QueryRunner, deps: ServiceDeps, tenant: Tenant, id: string, now: number): Promise<boolean> {
  // Asked together: on Postgres they share one round trip (the approval does not change the deliveries).
  const [row, deliveries] = await Promise.all([transitionFromPendingReturning(trx, id, { status: 'approved', failure_reason: null, now }), deliveriesOf(trx, id)]);
  if (!row) return false;
  await recordVerificationEvent(trx, deps, 'verification.approved', row, tenant.policy, now, { deliveries });
  return true;
}

/**
 * Counts a wrong code (recordWrongCode) and, in the same transaction, records `verification.failed`
 * when this attempt failed the verification, and `identifier.locked` when it spent the last failure
 * of the lockout budget (`locks`; the lock itself is set by the caller, in the limiter's store).
 */
export async function recordWrongAttempt(
  deps: ServiceDeps,
  tenant: Tenant,
  id: string,
  now: number,
  locks: { identifier: string; rule: FailureRule } | null,
): Promise<{ attempts: number; status: string } | undefined> {
  return deps.store.db.transaction().execute(async (trx) => {
    const wrong = await recordWrongCode(trx, id, now, tenant.policy.checks.on_wrong_code === 'restart');
    if (wrong?.status === 'failed') {
      const row = await findVerification(trx, tenant, id);
      if (row) await recordVerificationEvent(trx, deps, 'verification.failed', row, tenant.policy, now);
    }
    if (locks) await recordIdentifierLocked(trx, deps, tenant, { identifier: locks.identifier, verificationId: id, rule: locks.rule, now });
    return wrong;
  });
}
