import type { Logger } from 'pino';
import { startPeriodic } from './periodic.js';
import type { Clock, Random } from '../domain/clock.js';
import type { Policy } from '../domain/policy.js';
import type { Store } from '../store/database.js';
import { listDeliveries, type DeliveryRow } from '../store/deliveries-repo.js';
import { findPolicySettings } from '../store/integrations-repo.js';
import { preparedTransaction } from '../store/prepared.js';
import { anyExpiryDue, expireDue, transitionFromPendingReturning } from '../store/verifications-repo.js';
import type { Tenant } from './context.js';
import { recordVerificationEvent, storedPolicy } from './verification-events.js';

/**
 * `verification.expired`, recorded by whoever moves the verification out of `pending`: the sweeper
 * below within its interval of the expiry, or a request that notices the expiry first (a check of the
 * lapsed code, a new request for the identifier). Each does it with a conditional UPDATE (`WHERE
 * status = 'pending'`) and records the event only for the rows that UPDATE changed, in its
 * transaction, so one expiry gives one event however many processes notice it.
 */

export interface SweeperDeps {
  store: Store;
  clock: Clock;
  random: Random;
}

/** Verifications expired per transaction; a sweep repeats until fewer are due. */
export const SWEEP_BATCH = 200;

/** A check found the verification lapsed: it is marked expired (and announced) unless someone already did. */
export async function expireNoticed(deps: SweeperDeps, tenant: Tenant, id: string, now: number): Promise<void> {
  await preparedTransaction(deps.store, async (trx) => {
    const row = await transitionFromPendingReturning(trx, id, { status: 'expired', failure_reason: 'expired', now });
    if (row) await recordVerificationEvent(trx, deps, 'verification.expired', row, tenant.policy, now);
  });
}

/** Marks every verification pending past its expiry as expired, with its event; returns how many. */
export async function sweepExpired(deps: SweeperDeps, batch = SWEEP_BATCH): Promise<number> {
  const postgres = deps.store.dialect === 'postgres';
  let total = 0;
  for (;;) {
    const now = deps.clock.now();
    if (!(await anyExpiryDue(deps.store.db, now))) return total;
    const expired = await deps.store.db.transaction().execute(async (trx) => {
      const rows = await expireDue(trx, now, batch, postgres);
      if (rows.length === 0) return 0;
      const ids = rows.map((r) => r.id);
      const deliveries = new Map<string, DeliveryRow[]>();
      for (const d of await listDeliveries(trx, ids)) {
        const list = deliveries.get(d.verification_id);
        if (list) list.push(d);
        else deliveries.set(d.verification_id, [d]);
      }
      const policies = new Map<string, Policy>();
      for (const i of await findPolicySettings(trx, [...new Set(rows.map((r) => r.integration_id))])) policies.set(i.id, storedPolicy(i));
      for (const row of rows) {
        // Integrations are never removed, only marked deleted: every row has its policy.
        const policy = policies.get(row.integration_id);
        if (policy) await recordVerificationEvent(trx, deps, 'verification.expired', row, policy, now, { deliveries: deliveries.get(row.id) ?? [] });
      }
      return rows.length;
    });
    total += expired;
    if (expired < batch) return total;
  }
}

/**
 * Sweeps every `everyMs` (OTPGATE_EXPIRY_SWEEP_INTERVAL_MS) until the returned stop is called (it
 * settles once a sweep in progress has ended); a sweep never overlaps the previous one of this
 * process. Runs beside the outbox worker.
 */
export function startExpirySweeper(deps: SweeperDeps, logger: Logger, everyMs: number): () => Promise<void> {
  return startPeriodic('expiry sweep', () => sweepExpired(deps), logger, everyMs);
}
