import { sql } from 'kysely';
import { canonicalIdentifier } from '../domain/identifiers.js';
import { allColumns, prepared, slot, slots, type QueryRunner } from './prepared.js';
import type { Executor, Mode, VerificationsTable } from './tables.js';

/**
 * A verification as the services build and read it. `canonical_identifier` is derived from
 * `identifier` by insertVerification (one rule, one place), so callers never spell it.
 */
export type VerificationRow = Omit<VerificationsTable, 'canonical_identifier'>;

export interface Scope {
  integrationId: string;
  mode: Mode;
}

// The queries of the send and check paths are prepared (built and compiled once, see prepared.ts).
const VERIFICATION_COLUMNS = allColumns<VerificationsTable>()([
  'id', 'integration_id', 'mode', 'identifier', 'identifier_kind', 'country', 'channel', 'action', 'locale', 'status',
  'failure_reason', 'code_hash', 'code_sealed', 'code_length', 'attempts', 'max_attempts', 'sends', 'expires_at',
  'last_sent_at', 'created_at', 'updated_at', 'identity_id', 'destination', 'canonical_identifier',
]);

interface ScopeArgs {
  integrationId: string;
  mode: Mode;
}

const insertVerificationQuery = prepared<VerificationsTable>((db) => db.insertInto('verifications').values(slots<VerificationsTable>(VERIFICATION_COLUMNS)));

export async function insertVerification(db: QueryRunner, row: VerificationRow): Promise<void> {
  await insertVerificationQuery(db, { ...row, canonical_identifier: canonicalIdentifier(row.identifier) });
}

const findVerificationQuery = prepared<ScopeArgs & { id: string }, VerificationRow>((db) =>
  db
    .selectFrom('verifications')
    .selectAll()
    .where('id', '=', slot<string>('id'))
    .where('integration_id', '=', slot<string>('integrationId'))
    .where('mode', '=', slot<Mode>('mode')),
);

export async function findVerification(db: Executor, scope: Scope, id: string): Promise<VerificationRow | undefined> {
  const { rows } = await findVerificationQuery(db, { integrationId: scope.integrationId, mode: scope.mode, id });
  return rows[0];
}

/** The columns a check reads (the rest, code_sealed above all, would be materialised for nothing). */
const CHECK_COLUMNS = [
  'id', 'identifier', 'identifier_kind', 'action', 'status', 'failure_reason', 'code_hash', 'attempts', 'max_attempts',
  'sends', 'expires_at', 'last_sent_at', 'identity_id', 'destination',
] as const satisfies readonly (keyof VerificationRow)[];
export type CheckableVerification = Pick<VerificationRow, (typeof CHECK_COLUMNS)[number]>;

const findLatestQuery = prepared<ScopeArgs & { canonical: string }, CheckableVerification>((db) =>
  db
    .selectFrom('verifications')
    .select(CHECK_COLUMNS)
    .where('integration_id', '=', slot<string>('integrationId'))
    .where('mode', '=', slot<Mode>('mode'))
    .where('canonical_identifier', '=', slot<string>('canonical'))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    // A literal: with `LIMIT ?` SQLite's planner cannot count on one row and the look-up took twice as long.
    .limit(sql.lit(1)),
);

/** The identifier's latest verification in this integration and mode, under any spelling of it (canonicalIdentifier). */
export async function findLatestVerification(db: Executor, scope: Scope, identifier: string): Promise<CheckableVerification | undefined> {
  const { rows } = await findLatestQuery(db, { integrationId: scope.integrationId, mode: scope.mode, canonical: canonicalIdentifier(identifier) });
  return rows[0];
}

/**
 * Serializes requests for one identifier inside a transaction (Postgres: a transaction-scoped
 * advisory lock; SQLite already runs one write transaction at a time), so "a new request cancels
 * the earlier pending one" leaves exactly one pending verification under concurrency.
 */
export async function lockIdentifier(trx: QueryRunner, scope: Scope, identifier: string, postgres: boolean): Promise<void> {
  if (!postgres || !('getExecutor' in trx)) return; // a direct transaction is the embedded store's
  const key = `${scope.integrationId}:${scope.mode}:${canonicalIdentifier(identifier)}`; // one lock for every spelling
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
}

const cancelPendingQuery = prepared<ScopeArgs & { canonical: string; now: number }>((db) =>
  db
    .updateTable('verifications')
    .set({ status: 'canceled', failure_reason: 'superseded', code_sealed: null, updated_at: slot('now') })
    .where('integration_id', '=', slot<string>('integrationId'))
    .where('mode', '=', slot<Mode>('mode'))
    .where('canonical_identifier', '=', slot<string>('canonical'))
    .where('status', '=', 'pending'),
);

/** Cancels every pending verification of the identifier under any spelling (a new request supersedes them). */
export async function cancelPendingFor(db: QueryRunner, scope: Scope, identifier: string, now: number): Promise<void> {
  await cancelPendingQuery(db, { integrationId: scope.integrationId, mode: scope.mode, canonical: canonicalIdentifier(identifier), now });
}

/**
 * Moves a verification out of `pending` only if it is still pending: the single conditional UPDATE
 * is the atomic step that lets exactly one of many concurrent checks win.
 */
const transitionQuery = prepared<{ id: string; status: string; failureReason: string | null; now: number }>((db) =>
  db
    .updateTable('verifications')
    .set({ status: slot('status'), failure_reason: slot('failureReason'), code_sealed: null, updated_at: slot('now') })
    .where('id', '=', slot<string>('id'))
    .where('status', '=', 'pending'),
);

export async function transitionFromPending(
  db: QueryRunner,
  id: string,
  set: { status: string; failure_reason: string | null; now: number },
): Promise<boolean> {
  const res = await transitionQuery(db, { id, status: set.status, failureReason: set.failure_reason, now: set.now });
  return Number(res.numAffectedRows) === 1;
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
