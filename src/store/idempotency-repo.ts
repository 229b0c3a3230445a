import type { Executor, IdempotencyKeysTable } from './tables.js';

export type IdempotencyRow = IdempotencyKeysTable;

/**
 * Claims a key for a request. Returns null when this call claimed it, or the existing row. A row
 * older than `expiredBefore` is forgotten first (keys live 24 h).
 */
export async function claimKey(
  db: Executor,
  row: { scope: string; key: string; request_hash: string; now: number },
  expiredBefore: number,
): Promise<IdempotencyRow | null> {
  await db.deleteFrom('idempotency_keys').where('scope', '=', row.scope).where('key', '=', row.key).where('created_at', '<', expiredBefore).execute();
  const inserted = await db
    .insertInto('idempotency_keys')
    .values({ scope: row.scope, key: row.key, request_hash: row.request_hash, status: 'in_flight', response_status: null, response_body: null, created_at: row.now })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return null;
  const existing = await db.selectFrom('idempotency_keys').selectAll().where('scope', '=', row.scope).where('key', '=', row.key).executeTakeFirst();
  return existing ?? null;
}

/** Records the answer to replay: `body` as the caller stores it (the plugin seals it, without credentials). */
export async function completeKey(db: Executor, scope: string, key: string, status: number, body: string): Promise<void> {
  await db.updateTable('idempotency_keys').set({ status: 'done', response_status: status, response_body: body }).where('scope', '=', scope).where('key', '=', key).execute();
}

/** Forgets a claim whose request did not complete (a server error): the client may retry it. */
export async function releaseKey(db: Executor, scope: string, key: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).where('status', '=', 'in_flight').execute();
}

export async function purgeExpiredKeys(db: Executor, expiredBefore: number): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('created_at', '<', expiredBefore).execute();
}
