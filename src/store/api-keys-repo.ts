import type { ApiKeysTable, Executor, Mode } from './tables.js';

export type ApiKeyRow = ApiKeysTable;

export async function insertApiKey(db: Executor, row: ApiKeyRow): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
}

export interface ActiveKey {
  key_id: string;
  integration_id: string;
  mode: Mode;
  signing_secret_sealed: string;
  name: string;
  trust_level: string;
  policy_json: string;
}

/** The live (unrevoked) key with this hash, joined to its live integration. One indexed read. */
export async function findActiveKeyByHash(
  db: Executor,
  keyHash: string,
): Promise<ActiveKey | undefined> {
  return db
    .selectFrom('api_keys')
    .innerJoin('integrations', 'integrations.id', 'api_keys.integration_id')
    .select([
      'api_keys.id as key_id',
      'api_keys.integration_id',
      'api_keys.mode',
      'api_keys.signing_secret_sealed',
      'integrations.name',
      'integrations.trust_level',
      'integrations.policy_json',
    ])
    .where('api_keys.key_hash', '=', keyHash)
    .where('api_keys.revoked_at', 'is', null)
    .where('integrations.deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function listKeys(db: Executor, integrationId: string): Promise<ApiKeyRow[]> {
  return db.selectFrom('api_keys').selectAll().where('integration_id', '=', integrationId).orderBy('created_at', 'asc').execute();
}

/** Revokes one key; returns false when no active key of that integration has this id. */
export async function revokeKey(db: Executor, integrationId: string, keyId: string, now: number): Promise<boolean> {
  const res = await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('id', '=', keyId)
    .where('integration_id', '=', integrationId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function revokeAllKeys(db: Executor, integrationId: string, now: number): Promise<void> {
  await db.updateTable('api_keys').set({ revoked_at: now }).where('integration_id', '=', integrationId).where('revoked_at', 'is', null).execute();
}
