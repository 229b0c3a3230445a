import { sql } from 'kysely';
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

/**
 * Serializes requests for one identifier inside a transaction (Postgres: a transaction-scoped
 * advisory lock; SQLite already runs one write transaction at a time), so "a new request cancels
 * the earlier pending one" leaves exactly one pending verification under concurrency.
 */
export async function lockIdentifier(trx: Executor, scope: Scope, identifier: string, postgres: boolean): Promise<void> {
  if (!postgres) return;
  await sql`select pg_advisory_xact_lock(hashtextextended(${`${scope.integrationId}:${scope.mode}:${identifier}`}, 0))`.execute(trx);
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

/**
 * Records one wrong code in a single atomic statement: the attempt is counted only while the
 * verification is pending with attempts left, and the same statement fails it when that was the
 * last attempt (or at once under `restart`). Concurrent wrong guesses therefore never count past
 * `max_attempts`. Returns the new count and status, or undefined when nothing was left to count.
 */
export async function recordWrongCode(
  db: Executor,
  id: string,
  now: number,
  restart: boolean,
): Promise<{ attempts: number; status: string } | undefined> {
  return db
    .updateTable('verifications')
    .set((eb) => {
      const last = restart ? sql<boolean>`1 = 1` : sql<boolean>`${eb.ref('attempts')} + 1 >= ${eb.ref('max_attempts')}`;
      const reason = restart ? 'wrong_code' : 'max_attempts_reached';
      return {
        attempts: eb('attempts', '+', 1),
        status: eb.case().when(last).then('failed').else(eb.ref('status')).end(),
        failure_reason: eb.case().when(last).then(reason).else(eb.ref('failure_reason')).end(),
        code_sealed: eb.case().when(last).then(null).else(eb.ref('code_sealed')).end(),
        updated_at: now,
      };
    })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where((eb) => eb('attempts', '<', eb.ref('max_attempts')))
    .returning(['attempts', 'status'])
    .executeTakeFirst();
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
