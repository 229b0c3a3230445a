import { sql } from 'kysely';
import type { Executor, IdentitiesTable } from './tables.js';
import type { Scope } from './verifications-repo.js';

export type IdentityRow = IdentitiesTable;
export type IdentityField = 'email' | 'phone' | 'cpf';

/** Claims a reference for an identity; false when the reference is already taken in this scope. */
export async function claimReference(db: Executor, scope: Scope, reference: string, identityId: string, now: number): Promise<boolean> {
  const res = await db
    .insertInto('identity_references')
    .values({ integration_id: scope.integrationId, mode: scope.mode, reference, identity_id: identityId, created_at: now })
    .onConflict((oc) => oc.columns(['integration_id', 'mode', 'reference']).doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export async function insertIdentity(db: Executor, row: IdentityRow): Promise<void> {
  await db.insertInto('identities').values(row).execute();
}

/** The identity a reference resolves to (after a merge, both references resolve to the survivor). */
export async function findIdentityByReference(db: Executor, scope: Scope, reference: string): Promise<IdentityRow | undefined> {
  return db
    .selectFrom('identity_references')
    .innerJoin('identities', 'identities.id', 'identity_references.identity_id')
    .selectAll('identities')
    .where('identity_references.integration_id', '=', scope.integrationId)
    .where('identity_references.mode', '=', scope.mode)
    .where('identity_references.reference', '=', reference)
    .executeTakeFirst();
}

/** By id, following merge tombstones to the surviving identity. */
export async function findIdentityById(db: Executor, id: string): Promise<IdentityRow | undefined> {
  let current = id;
  for (let hops = 0; hops < 8; hops++) {
    const row = await db.selectFrom('identities').selectAll().where('id', '=', current).executeTakeFirst();
    if (row) return row;
    const merged = await db.selectFrom('identity_merges').select('survivor_id').where('merged_id', '=', current).executeTakeFirst();
    if (!merged) return undefined;
    current = merged.survivor_id;
  }
  return undefined;
}

export async function listReferences(db: Executor, identityId: string): Promise<string[]> {
  const rows = await db.selectFrom('identity_references').select('reference').where('identity_id', '=', identityId).orderBy('created_at').orderBy('reference').execute();
  return rows.map((r) => r.reference);
}

/** Identities of the scope holding `value` in `field`, oldest first (the base of both look-ups below). */
function holders(db: Executor, scope: Scope, field: IdentityField, value: string) {
  return db
    .selectFrom('identities')
    .selectAll()
    .where('integration_id', '=', scope.integrationId)
    .where('mode', '=', scope.mode)
    .where(field, '=', value)
    .orderBy('created_at')
    .orderBy('id');
}

/** Identities holding `value` in `field`, oldest first. */
export async function findIdentitiesBy(db: Executor, scope: Scope, field: IdentityField, value: string, limit = 100): Promise<IdentityRow[]> {
  return holders(db, scope, field, value).limit(limit).execute();
}

/** Another identity of the scope on which `value` is already verified (the merge candidate). */
export async function findVerifiedHolder(db: Executor, scope: Scope, field: 'email' | 'phone', value: string, exceptId: string): Promise<IdentityRow | undefined> {
  return holders(db, scope, field, value)
    .where(field === 'email' ? 'email_verified_at' : 'phone_verified_at', 'is not', null)
    .where('id', '!=', exceptId)
    .executeTakeFirst();
}

export async function updateIdentity(
  db: Executor,
  id: string,
  patch: Partial<Pick<IdentityRow, 'email' | 'email_verified_at' | 'phone' | 'phone_verified_at' | 'cpf' | 'name' | 'updated_at'>>,
): Promise<void> {
  await db.updateTable('identities').set(patch).where('id', '=', id).execute();
}

/**
 * Folds `mergedId` into `survivorId`: references, verifications and sessions move over, the merged
 * identity is removed and a tombstone keeps old ids resolvable. Runs inside the caller's transaction.
 */
export async function mergeIdentities(db: Executor, survivorId: string, mergedId: string, now: number): Promise<string[]> {
  const moved = await listReferences(db, mergedId);
  await db.updateTable('identity_references').set({ identity_id: survivorId }).where('identity_id', '=', mergedId).execute();
  await db.updateTable('verifications').set({ identity_id: survivorId }).where('identity_id', '=', mergedId).execute();
  await db.updateTable('sessions').set({ identity_id: survivorId }).where('identity_id', '=', mergedId).execute();
  await db.updateTable('identity_merges').set({ survivor_id: survivorId }).where('survivor_id', '=', mergedId).execute();
  await db.insertInto('identity_merges').values({ merged_id: mergedId, survivor_id: survivorId, created_at: now }).execute();
  await db.deleteFrom('identities').where('id', '=', mergedId).execute();
  return moved;
}

/**
 * Serializes identity writes of one integration and mode (Postgres advisory lock; SQLite writes are
 * already serial). Integration-wide rather than per address: two merges that cross (A proves B's
 * email while B proves A's phone) would otherwise lock in opposite orders.
 */
export async function lockIdentities(db: Executor, scope: Scope, postgres: boolean): Promise<void> {
  if (!postgres) return;
  await sql`select pg_advisory_xact_lock(hashtextextended(${`identities:${scope.integrationId}:${scope.mode}`}, 0))`.execute(db);
}
