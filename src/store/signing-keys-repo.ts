import type { Executor, SigningKeysTable } from './tables.js';

export type SigningKeyRow = SigningKeysTable;

export async function insertSigningKey(db: Executor, row: SigningKeyRow): Promise<void> {
  await db.insertInto('signing_keys').values(row).execute();
}

/** The active key (not retired) and the keys retired after `retiredAfter`, newest first. */
export async function listPublishedKeys(db: Executor, retiredAfter: number): Promise<SigningKeyRow[]> {
  return db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', retiredAfter)]))
    .orderBy('created_at', 'desc')
    .execute();
}

/** Retires every active key but `keepKid`. */
export async function retireOthers(db: Executor, keepKid: string, now: number): Promise<void> {
  await db.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).where('kid', '!=', keepKid).execute();
}
