import DataLoader from 'dataloader';
import { sql, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { canonicalIdentifier } from '../domain/identifiers.js';
import { DELIVERY_COLUMNS, type DeliveryRow } from './deliveries-repo.js';
import { inSubqueryOnce } from './claim-once.js';
import { PipelinedTransaction } from './pg-pipeline.js';
import { allColumns, prepared, runsOnSqlite, slot, slots, type QueryRunner } from './prepared.js';
import { DirectTransaction } from './sqlite-driver.js';
import type { Executor, Mode, Tables, VerificationsTable } from './tables.js';

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

/**
 * "Still pending", as the statements that find a verification by id test it, spelled so that no
 * planner can answer it from an index of pending verifications only (coalesce() hides the column
 * from the partial indexes' `status = 'pending'`). On Postgres, once ANALYZE has seen few pending
 * verifications (the usual state: most are soon approved, expired or canceled), such an index looks
 * nearly empty, so cheaper than the primary key, and an UPDATE by id then walked every verification
 * pending since: measured with 8,000 pending, 5 ms of Postgres a check instead of 0.3. The row's own
 * status still decides, tested again on the version a concurrent writer left (one of many moves wins).
 */
const STILL_PENDING = sql<SqlBool>`coalesce("status", '') = 'pending'`;

interface ScopeArgs {
  integrationId: string;
  mode: Mode;
}

const insertVerificationQuery = prepared<VerificationsTable>((db) => db.insertInto('verifications').values(slots<VerificationsTable>(VERIFICATION_COLUMNS)), { deferrable: true });

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

/** A verification with its integration's policy settings (the worker and the sweeper present it without a request's tenant). */
export interface VerificationWithPolicy extends VerificationRow {
  trust_level: string;
  policy_json: string;
}

/** A delivery's columns as the event read below names them (`d_` + column), beside the verification's. */
type PrefixedDelivery = { [K in keyof DeliveryRow as `d_${K & string}`]: DeliveryRow[K] | null };
const PREFIXED_DELIVERY_COLUMNS = DELIVERY_COLUMNS.map((column) => `d.${column} as d_${column}` as const);

// Deleted integrations too: their verifications still change state.
const findForEventQuery = prepared<{ id: string }, VerificationWithPolicy & PrefixedDelivery>((db) =>
  db
    .selectFrom('verifications as v')
    .innerJoin('integrations as i', 'i.id', 'v.integration_id')
    .leftJoin('deliveries as d', 'd.verification_id', 'v.id')
    .selectAll('v')
    .select(['i.trust_level', 'i.policy_json'])
    .select(PREFIXED_DELIVERY_COLUMNS as unknown as ['d.id as d_id'])
    .where('v.id', '=', slot<string>('id'))
    .orderBy('d.created_at', 'asc')
    .orderBy('d.id', 'asc'),
);

/**
 * What an event about a verification presents, in one read: the verification with its integration's
 * policy settings, and every delivery attempt of it, oldest first (a row per attempt, split here).
 */
export async function findVerificationForEvent(db: QueryRunner, id: string): Promise<{ verification: VerificationWithPolicy; deliveries: DeliveryRow[] } | undefined> {
  const { rows } = await findForEventQuery(db, { id });
  const first = rows[0] as unknown as Record<string, unknown> | undefined;
  if (!first) return undefined;
  // Copied by fixed lists of names (was Object.entries and a name built per column: 7.5 against 1.8 µs a row).
  const verification: Record<string, unknown> = {};
  for (const column of EVENT_VERIFICATION_COLUMNS) verification[column] = first[column];
  return { verification: verification as unknown as VerificationWithPolicy, deliveries: splitDeliveries(rows as unknown as Array<Record<string, unknown>>) };
}

/** The deliveries of rows joined with `d_`-prefixed delivery columns (a left join: a row of nulls is none). */
function splitDeliveries(rows: ReadonlyArray<Record<string, unknown>>): DeliveryRow[] {
  const deliveries: DeliveryRow[] = [];
  for (const row of rows) {
    if (row.d_id === null) continue; // no delivery (the left join's empty side)
    const delivery: Record<string, unknown> = {};
    for (const [prefixed, column] of DELIVERY_COLUMN_PAIRS) delivery[column] = row[prefixed];
    deliveries.push(delivery as unknown as DeliveryRow);
  }
  return deliveries;
}

/** The verification's side of findForEventQuery's rows, and the deliveries' (`d_` + column → column). */
const EVENT_VERIFICATION_COLUMNS: readonly string[] = [...VERIFICATION_COLUMNS, 'trust_level', 'policy_json'];
const DELIVERY_COLUMN_PAIRS = DELIVERY_COLUMNS.map((column) => [`d_${column}`, column] as const);

/** What a check uses of a verification (read by id, or the identifier's latest with its deliveries). */
export type CheckableVerification = Pick<
  VerificationRow,
  'id' | 'identifier' | 'identifier_kind' | 'action' | 'status' | 'failure_reason' | 'code_hash' | 'attempts' | 'max_attempts' | 'sends' | 'expires_at' | 'last_sent_at' | 'identity_id' | 'destination'
>;

/**
 * The identifier's latest verification in the integration and mode, under any spelling of it
 * (canonicalIdentifier): `qb` narrowed to it (the look-up the check's reads share).
 */
function latestOfIdentifier<O>(qb: SelectQueryBuilder<Tables, 'verifications', O>): SelectQueryBuilder<Tables, 'verifications', O> {
  return (
    qb
      .where('integration_id', '=', slot<string>('integrationId'))
      .where('mode', '=', slot<Mode>('mode'))
      .where('canonical_identifier', '=', slot<string>('canonical'))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      // A literal: with `LIMIT ?` SQLite's planner cannot count on one row and the look-up took twice as long.
      .limit(sql.lit(1))
  );
}

/** A verification with its deliveries, read together (the check's optimistic approval). */
export interface VerificationWithDeliveries extends VerificationRow {
  deliveries: DeliveryRow[];
}

/** What the check's first read brings of a verification: all but the sealed code. */
const LATEST_COLUMNS = VERIFICATION_COLUMNS.filter((column) => column !== 'code_sealed');

// Postgres only: the deliveries come along as one JSON array (oldest first), so the check's first read
// also holds everything `verification.approved` shows; code_sealed is left out (read as null).
const findLatestWithDeliveriesQuery = prepared<ScopeArgs & { canonical: string }, Omit<VerificationRow, 'code_sealed'> & { deliveries: DeliveryRow[] }>((db) =>
  latestOfIdentifier(
    db
      .selectFrom('verifications')
      .select(VERIFICATION_COLUMNS.filter((column) => column !== 'code_sealed'))
      .select(sql<DeliveryRow[]>`coalesce((select json_agg(d order by d.created_at, d.id) from deliveries d where d.verification_id = verifications.id), '[]'::json)`.as('deliveries')),
  ),
);

// The embedded store: the latest verification (code_sealed left out) joined to its deliveries, a row
// per delivery (one of nulls when it has none), oldest first; split by fixed lists of names below.
const findLatestJoinedQuery = prepared<ScopeArgs & { canonical: string }, Record<string, unknown>>((db) =>
  db
    .selectFrom(latestOfIdentifier(db.selectFrom('verifications').select(LATEST_COLUMNS)).as('v'))
    .leftJoin('deliveries as d', 'd.verification_id', 'v.id')
    .selectAll('v')
    .select(PREFIXED_DELIVERY_COLUMNS as unknown as ['d.id as d_id'])
    .orderBy('d.created_at', 'asc')
    .orderBy('d.id', 'asc') as never,
);

/**
 * The identifier's latest verification in this integration and mode, under any spelling of it
 * (canonicalIdentifier), with the whole row (but code_sealed, read as null) and its deliveries, in one
 * statement: on Postgres as a JSON array, on the embedded store as a join split here. What
 * `verification.approved` shows, so the check's approval needs no read of its own (approveIfUnchanged).
 */
export async function findLatestWithDeliveries(db: QueryRunner, scope: Scope, identifier: string): Promise<VerificationWithDeliveries | undefined> {
  const args = { integrationId: scope.integrationId, mode: scope.mode, canonical: canonicalIdentifier(identifier) };
  if (runsOnSqlite(db)) {
    const { rows } = await findLatestJoinedQuery(db, args);
    const first = rows[0];
    if (!first) return undefined;
    const verification: Record<string, unknown> = { code_sealed: null };
    for (const column of LATEST_COLUMNS) verification[column] = first[column];
    verification.deliveries = splitDeliveries(rows);
    return verification as unknown as VerificationWithDeliveries;
  }
  const { rows } = await findLatestWithDeliveriesQuery(db, args);
  const row = rows[0];
  return row ? { ...row, code_sealed: null } : undefined;
}

/** Checks' reads asked in one turn at most go together (a bound on the statement's arrays). */
const LATEST_BATCH_MAX = 200;
const latestLoaders = new WeakMap<Executor, DataLoader<LatestKey, VerificationWithDeliveries | undefined>>();

interface LatestKey {
  integrationId: string;
  mode: Mode;
  canonical: string;
}

/**
 * findLatestWithDeliveries for a networked store, with the reads asked in the same turn of the event
 * loop (the checks whose requests arrived together) sent as one statement: a lateral join over the
 * (integration, mode, identifier) triples, one row per triple that has a verification. Each check's
 * round trip was a write system call and a statement of its own, the largest part of a check's cost
 * on Postgres + Redis after the Redis commands. Postgres only.
 */
export function findLatestWithDeliveriesBatched(db: Executor, scope: Scope, identifier: string): Promise<VerificationWithDeliveries | undefined> {
  let loader = latestLoaders.get(db);
  if (!loader) {
    loader = new DataLoader((keys) => latestOfMany(db, keys), { cache: false, maxBatchSize: LATEST_BATCH_MAX, batchScheduleFn: (run) => setImmediate(run) });
    latestLoaders.set(db, loader);
  }
  return loader.load({ integrationId: scope.integrationId, mode: scope.mode, canonical: canonicalIdentifier(identifier) });
}

async function latestOfMany(db: Executor, keys: readonly LatestKey[]): Promise<Array<VerificationWithDeliveries | undefined>> {
  const { rows } = await sql<Omit<VerificationWithDeliveries, 'code_sealed'> & { batch_index: number }>`
    select k.i::int as batch_index, latest.* from unnest(${keys.map((key) => key.integrationId)}::text[], ${keys.map((key) => key.mode)}::text[], ${keys.map((key) => key.canonical)}::text[]) with ordinality as k(integration_id, mode, canonical, i)
    cross join lateral (
      select ${sql.join(LATEST_COLUMNS.map((column) => sql.ref(`v.${column}`)))},
        coalesce((select json_agg(d order by d.created_at, d.id) from deliveries d where d.verification_id = v.id), '[]'::json) as deliveries
      from verifications v
      where v.integration_id = k.integration_id and v.mode = k.mode and v.canonical_identifier = k.canonical
      order by v.created_at desc, v.id desc
      limit 1
    ) latest`.execute(db);
  // Filled, not sparse: DataLoader refuses an array whose last element is a hole (a key with none).
  const found = new Array<VerificationWithDeliveries | undefined>(keys.length).fill(undefined);
  for (const { batch_index: index, ...row } of rows) found[index - 1] = { ...row, code_sealed: null };
  return found;
}

/** What the deliveries of a verification looked like: their count and latest change. */
export function deliveriesFingerprint(deliveries: readonly DeliveryRow[]): string {
  return `${deliveries.length}:${deliveries.reduce((latest, d) => Math.max(latest, Number(d.updated_at)), 0)}`;
}

/** SQLSTATE of the division the unchanged-approval statement makes fail when it changed nothing. */
const NOTHING_APPROVED = '22012';

/**
 * The approval of a verification only if the row and its deliveries are as read (attempts, sends,
 * updated_at, the deliveries' count and latest change: `deliveries`, as each SQL spells it).
 */
function approveAsRead(db: Executor, deliveries: RawBuilder<string>) {
  return db
    .updateTable('verifications')
    .set({ status: sql.lit('approved'), failure_reason: null, code_sealed: null, updated_at: slot<number>('now') })
    .where('id', '=', slot<string>('id'))
    .where(STILL_PENDING)
    .where('attempts', '=', slot<number>('attempts'))
    .where('sends', '=', slot<number>('sends'))
    .where('updated_at', '=', slot<number>('updatedAt'))
    .where(deliveries, '=', slot<string>('deliveries'));
}

type ApproveArgs = { id: string; now: number; attempts: number; sends: number; updatedAt: number; deliveries: string };

// Postgres: a data-modifying CTE that fails (1 / 0) when it changed nothing, which fails the
// transaction it is sent in: the writes queued with it (the event, the session) are never committed.
const approveUnchangedQuery = prepared<ApproveArgs>(
  (db) =>
    db
      .with('approved', () => approveAsRead(db, sql<string>`(select count(*)::text || ':' || coalesce(max(d.updated_at), 0)::text from deliveries d where d.verification_id = verifications.id)`).returning(sql<number>`1`.as('one')))
      .selectNoFrom(sql<number>`1 / (select count(*)::int from approved)`.as('approved')),
  { deferrable: true },
);

// The embedded store: the plain UPDATE, whose count of changed rows says it.
const approveUnchangedSqliteQuery = prepared<ApproveArgs>((db) =>
  approveAsRead(db, sql<string>`(select count(*) || ':' || coalesce(max(d.updated_at), 0) from deliveries d where d.verification_id = verifications.id)`),
);

/**
 * Approves a pending verification only if it is still as `seen` (the row and its deliveries): when it
 * changed, the transaction fails with an error isNothingApproved() recognises. On Postgres inside the
 * caller's pipelined transaction without waiting for an answer; on the embedded store at once, before
 * the caller writes anything else.
 */
export async function approveIfUnchanged(trx: QueryRunner, seen: VerificationWithDeliveries, now: number): Promise<void> {
  const args = { id: seen.id, now, attempts: seen.attempts, sends: seen.sends, updatedAt: seen.updated_at, deliveries: deliveriesFingerprint(seen.deliveries) };
  if (!runsOnSqlite(trx)) return void (await approveUnchangedQuery(trx, args));
  const { numAffectedRows } = await approveUnchangedSqliteQuery(trx, args);
  if (Number(numAffectedRows) !== 1) throw Object.assign(new Error('the verification changed since it was read'), { code: NOTHING_APPROVED });
}

/** Whether a transaction failed because approveIfUnchanged found the verification changed (or no longer pending). */
export function isNothingApproved(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === NOTHING_APPROVED;
}

/**
 * Serializes requests for one identifier inside a transaction (Postgres: a transaction-scoped
 * advisory lock; SQLite already runs one write transaction at a time), so "a new request cancels
 * the earlier pending one" leaves exactly one pending verification under concurrency.
 */
export async function lockIdentifier(trx: QueryRunner, scope: Scope, identifier: string, postgres: boolean): Promise<void> {
  if (!postgres || trx instanceof DirectTransaction) return; // a direct transaction is the embedded store's
  const key = identifierLockKey(scope, identifier);
  // Sent with the statement after it: the lock is taken before that one runs, in the same round trip.
  if (trx instanceof PipelinedTransaction) await trx.run(LOCK_SQL, [key], { deferred: true });
  else await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
}

const LOCK_SQL = 'select pg_advisory_xact_lock(hashtextextended($1, 0))';

/** The key of lockIdentifier's lock: one for every spelling of the identifier. */
export function identifierLockKey(scope: Scope, identifier: string): string {
  return `${scope.integrationId}:${scope.mode}:${canonicalIdentifier(identifier)}`;
}

const cancelPendingQuery = prepared<ScopeArgs & { canonical: string; now: number }, VerificationRow>((db) =>
  db
    .updateTable('verifications')
    .set((eb) => {
      // One already past its expiry had expired before the new request came: it is recorded as such.
      const lapsed = eb('expires_at', '<=', slot<number>('now'));
      return {
        status: eb.case().when(lapsed).then('expired').else('canceled').end(),
        failure_reason: eb.case().when(lapsed).then('expired').else('superseded').end(),
        code_sealed: null,
        updated_at: slot('now'),
      };
    })
    .where('integration_id', '=', slot<string>('integrationId'))
    .where('mode', '=', slot<Mode>('mode'))
    .where('canonical_identifier', '=', slot<string>('canonical'))
    .where('status', '=', sql.lit('pending'))
    .returning(VERIFICATION_COLUMNS),
);

/**
 * Cancels every pending verification of the identifier under any spelling (a new request supersedes
 * them; one already past its expiry becomes `expired`). Returns the rows it changed, as they are now,
 * so that the caller announces each change once (only the writer that moved a row out of `pending`).
 */
export async function cancelPendingFor(db: QueryRunner, scope: Scope, identifier: string, now: number, pending: Promise<boolean> = hasPending(db, scope, identifier)): Promise<VerificationRow[]> {
  // Most requests find nothing pending: a look in the covering index first costs a fraction of an
  // UPDATE … RETURNING that changes nothing (SQLite prepares its write on every index of the table).
  // No race: the caller holds the identifier (lockIdentifier; SQLite writes one transaction at a time).
  if (!(await pending)) return [];
  const { rows } = await cancelPendingQuery(db, { ...scopeArgs(scope, identifier), now });
  return rows;
}

/**
 * Whether the identifier has a pending verification (the look cancelPendingFor starts with; a caller
 * may ask it first, so that it shares a round trip with the caller's other statements).
 */
export async function hasPending(db: QueryRunner, scope: Scope, identifier: string): Promise<boolean> {
  return (await anyPendingQuery(db, scopeArgs(scope, identifier))).rows.length > 0;
}

function scopeArgs(scope: Scope, identifier: string): ScopeArgs & { canonical: string } {
  return { integrationId: scope.integrationId, mode: scope.mode, canonical: canonicalIdentifier(identifier) };
}

// `status = 'pending'` is written as a literal in every statement on this table: the partial index of
// migration 012 (`WHERE status = 'pending'`) makes SQLite compare a bound status with it when planning,
// and such a statement is then prepared again on every bind (measured: 42 µs a lookup, 5 µs literal).
const anyPendingQuery = prepared<ScopeArgs & { canonical: string }, { id: string }>((db) =>
  db
    .selectFrom('verifications')
    .select('id')
    .where('integration_id', '=', slot<string>('integrationId'))
    .where('mode', '=', slot<Mode>('mode'))
    .where('canonical_identifier', '=', slot<string>('canonical'))
    .where('status', '=', sql.lit('pending'))
    .limit(sql.lit(1)),
);

/**
 * Moves a verification out of `pending` only if it is still pending: the single conditional UPDATE
 * is the atomic step that lets exactly one of many concurrent checks win.
 */
const transitionQuery = prepared<{ id: string; status: string; failureReason: string | null; now: number }>((db) =>
  db
    .updateTable('verifications')
    .set({ status: slot('status'), failure_reason: slot('failureReason'), code_sealed: null, updated_at: slot('now') })
    .where('id', '=', slot<string>('id'))
    .where(STILL_PENDING),
);

export async function transitionFromPending(
  db: QueryRunner,
  id: string,
  set: { status: string; failure_reason: string | null; now: number },
): Promise<boolean> {
  const res = await transitionQuery(db, { id, status: set.status, failureReason: set.failure_reason, now: set.now });
  return Number(res.numAffectedRows) === 1;
}

const transitionReturningQuery = prepared<{ id: string; status: string; failureReason: string | null; now: number }, VerificationRow>((db) =>
  db
    .updateTable('verifications')
    .set({ status: slot('status'), failure_reason: slot('failureReason'), code_sealed: null, updated_at: slot('now') })
    .where('id', '=', slot<string>('id'))
    .where(STILL_PENDING)
    .returning(VERIFICATION_COLUMNS),
);

const verificationByIdQuery = prepared<{ id: string }, VerificationRow>((db) => db.selectFrom('verifications').select(VERIFICATION_COLUMNS).where('id', '=', slot<string>('id')));

/**
 * transitionFromPending that returns the row as it now is (undefined: it was no longer pending), for
 * the event it causes. On the embedded store the row is read back after the UPDATE in the same
 * transaction (one is opened when `db` is not one), so it is the row the UPDATE left. SQLite runs
 * `UPDATE … RETURNING` as a trigger that fills a temporary table: timed alone on a table of 60,000
 * verifications, 29 µs with every column returned, against 8 µs for the UPDATE and 8 µs for the
 * read by id. Postgres keeps the RETURNING (one statement, one round trip).
 */
export async function transitionFromPendingReturning(
  db: QueryRunner,
  id: string,
  set: { status: string; failure_reason: string | null; now: number },
): Promise<VerificationRow | undefined> {
  const args = { id, status: set.status, failureReason: set.failure_reason, now: set.now };
  if (db instanceof PipelinedTransaction || !runsOnSqlite(db)) return (await transitionReturningQuery(db, args)).rows[0];
  if (!(db instanceof DirectTransaction) && !db.isTransaction) return db.transaction().execute((trx) => transitionFromPendingReturning(trx, id, set));
  const changed = await transitionQuery(db, args);
  if (Number(changed.numAffectedRows) !== 1) return undefined;
  return (await verificationByIdQuery(db, { id })).rows[0];
}

/** Whether any verification is pending past its expiry (a read through the partial index: the idle sweep opens no transaction). */
export async function anyExpiryDue(db: Executor, now: number): Promise<boolean> {
  const row = await db.selectFrom('verifications').select('id').where('status', '=', sql.lit('pending')).where('expires_at', '<=', now).limit(1).executeTakeFirst();
  return row !== undefined;
}

/**
 * Marks up to `limit` verifications still pending at their expiry as `expired`, and returns those it
 * changed. The conditions are repeated on the row being updated: of several processes sweeping at
 * once, only the one whose UPDATE moved a row out of `pending` gets it back (Postgres re-reads a row
 * another transaction changed before updating it; SQLite runs one writer at a time), so each expiry
 * is announced once. `status = 'pending'` is a literal so SQLite can use the partial index of
 * migration 012.
 */
export async function expireDue(db: Executor, now: number, limit: number, postgres: boolean): Promise<VerificationRow[]> {
  return expireDueQuery(db, now, limit, postgres).execute();
}

/** The statement expireDue runs (exported for its query-plan test). */
export function expireDueQuery(db: Executor, now: number, limit: number, postgres: boolean) {
  const select = db
    .selectFrom('verifications')
    .select('id')
    .where('status', '=', sql.lit('pending'))
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(limit);
  const update = db.updateTable('verifications').set({ status: 'expired', failure_reason: 'expired', code_sealed: null, updated_at: now }).returning(VERIFICATION_COLUMNS);
  // Postgres: rows another sweeper (or a check) holds are skipped, not waited for, so two sweepers
  // never lock the same rows in different orders (a deadlock). The lock re-tests the subquery's
  // WHERE on the row as it is when locked and keeps it so until the UPDATE, which therefore takes
  // the chosen ids and tests nothing else (a re-test there let the planner read the due rows of the
  // expiry index and filter them by id instead of looking the ids up).
  if (postgres) return update.where(inSubqueryOnce('id', select.forUpdate().skipLocked()));
  return update.where('id', 'in', select).where('status', '=', sql.lit('pending')).where('expires_at', '<=', now);
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
  const update = db
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
    .where(STILL_PENDING)
    .where((eb) => eb('attempts', '<', eb.ref('max_attempts')));
  if (!runsOnSqlite(db)) return update.returning(['attempts', 'status']).executeTakeFirst();
  // The embedded store: the UPDATE, then a read in the same transaction, cheaper than SQLite's
  // RETURNING (transitionFromPendingReturning).
  if (!db.isTransaction) return db.transaction().execute((trx) => recordWrongCode(trx, id, now, restart));
  const { numUpdatedRows } = await update.executeTakeFirstOrThrow();
  if (numUpdatedRows !== 1n) return undefined;
  return db.selectFrom('verifications').select(['attempts', 'status']).where('id', '=', id).executeTakeFirst();
}

/** Counts a resend; only if still pending and under the send limit (atomic against double resends). */
export async function recordResend(db: Executor, id: string, maxSends: number, earliest: number, now: number): Promise<boolean> {
  const res = await db
    .updateTable('verifications')
    .set((eb) => ({ sends: eb('sends', '+', 1), last_sent_at: now, updated_at: now }))
    .where('id', '=', id)
    .where(STILL_PENDING)
    .where('sends', '<', maxSends)
    .where('last_sent_at', '<=', earliest)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
