import type { Executor } from './tables.js';

/** One accepted request signature (`key` = integration id + signature hex), kept until `expires_at`. */
export interface SignatureReplaysTable {
  key: string;
  expires_at: number;
}

/** The shared table list plus this one (declared here so this feature owns its table type). */
const replays = (db: Executor) => db.withTables<{ signature_replays: SignatureReplaysTable }>();

/**
 * Records `key` until `expiresAt`; true when it was not already recorded (or only as expired).
 * One atomic statement (insert, or revive an expired row, on conflict): of any number of processes
 * racing on the same key, exactly one gets a row back.
 */
export async function claimReplayKey(db: Executor, key: string, expiresAt: number, now: number): Promise<boolean> {
  const row = await replays(db)
    .insertInto('signature_replays')
    .values({ key, expires_at: expiresAt })
    .onConflict((oc) => oc.column('key').doUpdateSet({ expires_at: expiresAt }).where('signature_replays.expires_at', '<=', now))
    .returning('key')
    .executeTakeFirst();
  return row !== undefined;
}

/** Deletes the rows expired at `now`; returns how many. */
export async function purgeExpiredReplays(db: Executor, now: number): Promise<number> {
  const res = await replays(db).deleteFrom('signature_replays').where('expires_at', '<=', now).executeTakeFirst();
  return Number(res.numDeletedRows);
}
