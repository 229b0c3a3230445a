import { PostgresAdapter, sql, type RawBuilder } from 'kysely';
import { inSubqueryOnce } from './claim-once.js';
import { prepared, slot, type QueryRunner } from './prepared.js';
import type { Executor, OutboxTable } from './tables.js';

export type OutboxRow = OutboxTable;

interface EnqueueArgs extends Pick<OutboxRow, 'id' | 'kind' | 'integration_id' | 'mode' | 'payload_json'> {
  now: number;
  /** Enqueue it already claimed by this worker until then (it is handed over in memory after the commit). */
  claim?: { workerId: string; until: number } | null;
  /** Not before this time (default now). */
  availableAt?: number;
}

const enqueueQuery = prepared<Omit<EnqueueArgs, 'claim' | 'availableAt'> & { available_at: number; locked_by: string | null; locked_until: number | null; attempts: number }>((db) =>
  db.insertInto('outbox').values({
    id: slot('id'),
    kind: slot('kind'),
    integration_id: slot('integration_id'),
    mode: slot('mode'),
    payload_json: slot('payload_json'),
    status: 'pending',
    attempts: slot('attempts'),
    available_at: slot('available_at'),
    locked_until: slot('locked_until'),
    locked_by: slot('locked_by'),
    last_error: null,
    created_at: slot('now'),
  }),
  { deferrable: true },
);

/** Adds a message; returns the row as stored. */
export async function enqueue(db: QueryRunner, args: EnqueueArgs): Promise<OutboxRow> {
  const row: OutboxRow = {
    id: args.id,
    kind: args.kind,
    integration_id: args.integration_id,
    mode: args.mode,
    payload_json: args.payload_json,
    status: 'pending',
    attempts: args.claim ? 1 : 0, // a claim counts as an attempt, as claimDue counts it
    available_at: args.availableAt ?? args.now,
    locked_until: args.claim?.until ?? null,
    locked_by: args.claim?.workerId ?? null,
    last_error: null,
    created_at: args.now,
  };
  await enqueueQuery(db, { ...row, now: args.now });
  return row;
}

/**
 * Claims up to `limit` due messages for `workerId` until `now + leaseMs`: pending ones whose time has
 * come and whose lease (if any) has lapsed, so a crashed worker's claims return after the lease.
 * One UPDATE … WHERE id IN (SELECT …) statement; on Postgres the inner SELECT skips locked rows so
 * concurrent workers never claim the same message, and runs once (claim-once.ts).
 */
export async function claimDue(db: Executor, workerId: string, now: number, leaseMs: number, limit: number, postgres: boolean): Promise<OutboxRow[]> {
  return claimDueQuery(db, workerId, now, leaseMs, limit, postgres).execute();
}

/** The statement claimDue runs (exported for its query-plan test). */
export function claimDueQuery(db: Executor, workerId: string, now: number, leaseMs: number, limit: number, postgres: boolean) {
  const due = db
    .selectFrom('outbox')
    .select('id')
    .where('status', '=', 'pending')
    .where('available_at', '<=', now)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now)]))
    .orderBy('available_at')
    .limit(limit);
  const claim = db
    .updateTable('outbox')
    .set((eb) => ({ locked_until: now + leaseMs, locked_by: workerId, attempts: eb('attempts', '+', 1) }))
    .returningAll();
  // No outer `status` test. With it the planner could walk every pending message through the status
  // index and test each against the chosen ids, so a claim's cost grew with the backlog (23 µs a
  // message under load, on SQLite); without it each claimed id is one primary-key look-up. On
  // Postgres the subquery's row lock re-tests its WHERE on the row as it is when locked and keeps it
  // so until the UPDATE; on SQLite the subquery and the update are one statement on the only writer.
  if (postgres) return claim.where(inSubqueryOnce('id', due.forUpdate().skipLocked()));
  return claim.where('id', 'in', due);
}

/**
 * The payload of a finished message without `code_sealed`: payloads no longer carry the code (the
 * worker reads the verification's sealed code), but a message enqueued by an older version may, and
 * a finished message keeps no secret. The LIKE spares the JSON rewrite for every other message.
 */
function payloadWithoutCode(db: Executor): RawBuilder<string> {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? sql<string>`case when payload_json like '%code_sealed%' then (payload_json::jsonb - 'code_sealed')::text else payload_json end`
    : sql<string>`case when payload_json like '%code_sealed%' then json_remove(payload_json, '$.code_sealed') else payload_json end`;
}

const markDoneQuery = prepared<{ id: string; workerId: string }>((db) =>
  db
    .updateTable('outbox')
    .set({ status: 'done', locked_until: null, last_error: null, payload_json: payloadWithoutCode(db) })
    .where('id', '=', slot<string>('id'))
    .where('locked_by', '=', slot<string>('workerId')),
);

export async function markDone(db: Executor, id: string, workerId: string): Promise<void> {
  await markDoneQuery(db, { id, workerId });
}

/** Gives a message back for a later attempt, or buries it (`dead`) when it will never succeed. */
export async function release(db: Executor, id: string, workerId: string, outcome: { retryAt: number | null; error: string }): Promise<void> {
  await db
    .updateTable('outbox')
    .set(
      outcome.retryAt === null
        ? { status: 'dead', locked_until: null, last_error: outcome.error, payload_json: payloadWithoutCode(db) }
        : { available_at: outcome.retryAt, locked_until: null, last_error: outcome.error },
    )
    .where('id', '=', id)
    .where('locked_by', '=', workerId)
    .execute();
}

/**
 * Keeps these claims of this worker alive while it still works on them (a lease heartbeat). Only the
 * messages in hand: one whose outcome could not be recorded must lapse, to be delivered again.
 */
export async function extendLeases(db: Executor, workerId: string, until: number, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    await db
      .updateTable('outbox')
      .set({ locked_until: until })
      .where('locked_by', '=', workerId)
      .where('status', '=', 'pending')
      .where('id', 'in', ids.slice(i, i + 500))
      .execute();
  }
}

/** Hands back this worker's unfinished claims (graceful shutdown) so another can take them at once. */
export async function releaseAll(db: Executor, workerId: string): Promise<void> {
  await db.updateTable('outbox').set({ locked_until: null, locked_by: null }).where('locked_by', '=', workerId).where('status', '=', 'pending').execute();
}

export async function countPending(db: Executor): Promise<number> {
  const row = await db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirstOrThrow();
  return Number(row.n);
}
