import { inSubqueryOnce } from './claim-once.js';
import type { Executor, SandboxPoolNumbersTable } from './tables.js';

export type PoolNumberRow = SandboxPoolNumbersTable;

/** The operator's pool of real numbers that phone inboxes rent (`source: "pool"`). */

/** Adds a number; false when it is in the pool already. */
export async function insertPoolNumber(db: Executor, row: PoolNumberRow): Promise<boolean> {
  const inserted = await db.insertInto('sandbox_pool_numbers').values(row).onConflict((oc) => oc.column('number').doNothing()).returning('number').execute();
  return inserted.length === 1;
}

export async function listPoolNumbers(db: Executor): Promise<PoolNumberRow[]> {
  return db.selectFrom('sandbox_pool_numbers').selectAll().orderBy('number').execute();
}

export async function findPoolNumber(db: Executor, number: string): Promise<PoolNumberRow | undefined> {
  return db.selectFrom('sandbox_pool_numbers').selectAll().where('number', '=', number).executeTakeFirst();
}

/** Removes a free number; false when it is rented (or absent: the caller tells which). */
export async function deleteFreePoolNumber(db: Executor, number: string): Promise<boolean> {
  const deleted = await db.deleteFrom('sandbox_pool_numbers').where('number', '=', number).where('rented_by', 'is', null).returning('number').execute();
  return deleted.length === 1;
}

/**
 * Rents a free number (of `country`, if given) to an inbox, atomically: the UPDATE re-checks that the
 * number is still free, and on Postgres the candidate is locked with SKIP LOCKED so a concurrent
 * rental takes the next free number instead of waiting for this one and finding it gone. SQLite
 * runs one writer at a time. Returns the number, or null when none is free.
 */
export async function rentPoolNumber(db: Executor, inboxId: string, country: string | null, now: number, postgres: boolean): Promise<string | null> {
  let candidate = db.selectFrom('sandbox_pool_numbers').select('number').where('rented_by', 'is', null).orderBy('updated_at').orderBy('number').limit(1);
  if (country !== null) candidate = candidate.where('country', '=', country);
  if (postgres) candidate = candidate.forUpdate().skipLocked();
  const update = db.updateTable('sandbox_pool_numbers').set({ rented_by: inboxId, updated_at: now });
  const rented = await (postgres ? update.where(inSubqueryOnce('number', candidate)) : update.where('number', 'in', candidate))
    .where('rented_by', 'is', null)
    .returning('number')
    .executeTakeFirst();
  return rented?.number ?? null;
}

/** Gives a number back to the pool, if this inbox still holds it. */
export async function releasePoolNumber(db: Executor, number: string, inboxId: string, now: number): Promise<void> {
  await db.updateTable('sandbox_pool_numbers').set({ rented_by: null, updated_at: now }).where('number', '=', number).where('rented_by', '=', inboxId).execute();
}
