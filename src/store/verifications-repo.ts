import type { DeliveriesTable, Executor, Mode, VerificationsTable } from './tables.js';

export type VerificationRow = VerificationsTable;
export type DeliveryRow = DeliveriesTable;

export interface Scope {
  integrationId: string;
  mode: Mode;
}

export async function insertVerification(db: Executor, row: VerificationRow): Promise<void> {
  await db.insertInto('verifications').values(row).execute();
}

export async function findVerification(db: Executor, scope: Scope, id: string): Promise<VerificationRow | undefined> {
  return db
    .selectFrom('verifications')
    .selectAll()
    .where('id', '=', id)
    .where('integration_id', '=', scope.integrationId)
    .where('mode', '=', scope.mode)
    .executeTakeFirst();
}

/** The identifier's latest verification in this integration and mode. */
export async function findLatestVerification(db: Executor, scope: Scope, identifier: string): Promise<VerificationRow | undefined> {
  return db
    .selectFrom('verifications')
    .selectAll()
    .where('integration_id', '=', scope.integrationId)
    .where('mode', '=', scope.mode)
    .where('identifier', '=', identifier)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Cancels every pending verification of the identifier (a new request supersedes them). */
export async function cancelPendingFor(db: Executor, scope: Scope, identifier: string, now: number): Promise<void> {
  await db
    .updateTable('verifications')
    .set({ status: 'canceled', failure_reason: 'superseded', code_sealed: null, updated_at: now })
    .where('integration_id', '=', scope.integrationId)
    .where('mode', '=', scope.mode)
    .where('identifier', '=', identifier)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * Moves a verification out of `pending` only if it is still pending: the single conditional UPDATE
 * is the atomic step that lets exactly one of many concurrent checks win.
 */
export async function transitionFromPending(
  db: Executor,
  id: string,
  set: { status: string; failure_reason: string | null; now: number },
): Promise<boolean> {
  const res = await db
    .updateTable('verifications')
    .set({ status: set.status, failure_reason: set.failure_reason, code_sealed: null, updated_at: set.now })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Adds one failed attempt atomically and returns the new count (undefined if no longer pending). */
export async function incrementAttempts(db: Executor, id: string, now: number): Promise<number | undefined> {
  const row = await db
    .updateTable('verifications')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: now }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .returning('attempts')
    .executeTakeFirst();
  return row?.attempts;
}

/** Counts a resend; only if still pending and under the send limit (atomic against double resends). */
export async function recordResend(db: Executor, id: string, maxSends: number, earliest: number, now: number): Promise<boolean> {
  const res = await db
    .updateTable('verifications')
    .set((eb) => ({ sends: eb('sends', '+', 1), last_sent_at: now, updated_at: now }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('sends', '<', maxSends)
    .where('last_sent_at', '<=', earliest)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function insertDelivery(db: Executor, row: DeliveryRow): Promise<void> {
  await db.insertInto('deliveries').values(row).execute();
}

export async function listDeliveries(db: Executor, verificationIds: string[]): Promise<DeliveryRow[]> {
  if (verificationIds.length === 0) return [];
  return db.selectFrom('deliveries').selectAll().where('verification_id', 'in', verificationIds).orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
}

export async function updateDelivery(db: Executor, id: string, status: string, error: string | null, now: number): Promise<void> {
  await db.updateTable('deliveries').set({ status, error, updated_at: now }).where('id', '=', id).execute();
}
