import { refundInboxRental } from '../billing/rental.js';
import type { Clock, Random } from '../domain/clock.js';
import type { Store } from '../store/database.js';
import { transitionInbox, type InboxRow } from '../store/inboxes-repo.js';
import { releasePoolNumber } from '../store/pool-numbers-repo.js';
import type { Executor } from '../store/tables.js';
import { inboxSettings, type InboxSettings } from './inbox-settings.js';

export type ClosedStatus = 'finished' | 'canceled' | 'expired';

/**
 * Closes an open inbox in the caller's transaction: frees its address, gives its pool number back,
 * and refunds its rental (billing/rental.ts; once) when it ends without a code: canceled (only
 * possible while waiting) or expired. Conditional on
 * the state the caller read: returns the closed row, or undefined when someone changed it first.
 */
export async function closeInboxIn(trx: Executor, deps: { clock: Clock; random: Random }, row: InboxRow, status: ClosedStatus, now: number): Promise<InboxRow | undefined> {
  const closed = await transitionInbox(trx, row.id, row, { status, expires_at: row.expires_at, open: false }, now);
  if (!closed) return undefined;
  if (closed.pool_number !== null) await releasePoolNumber(trx, closed.pool_number, closed.id, now);
  if (status !== 'finished' && closed.otp_count === 0) await refundInboxRental(trx, deps, closed.integration_id, closed.id);
  return closed;
}

/** closeInboxIn in a transaction of its own, then wakes the inbox's long-pollers. */
export async function closeInbox(
  deps: { store: Store; clock: Clock; random: Random; inboxes?: InboxSettings },
  row: InboxRow,
  status: ClosedStatus,
  now: number,
): Promise<InboxRow | undefined> {
  const closed = await deps.store.db.transaction().execute((trx) => closeInboxIn(trx, deps, row, status, now));
  if (closed) inboxSettings(deps).announce(row.id);
  return closed;
}
