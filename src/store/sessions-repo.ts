import { allColumns, prepared, slots, type QueryRunner } from './prepared.js';
import type { Executor, SessionsTable } from './tables.js';

export type SessionRow = SessionsTable;

const SESSION_COLUMNS = allColumns<SessionRow>()([
  'id', 'integration_id', 'mode', 'token_hash', 'identifier', 'identity_id', 'verification_id', 'action', 'expires_at', 'revoked_at', 'created_at',
]);
const insertSessionQuery = prepared<SessionRow>((db) => db.insertInto('sessions').values(slots<SessionRow>(SESSION_COLUMNS)), { deferrable: true });

export async function insertSession(db: QueryRunner, row: SessionRow): Promise<void> {
  await insertSessionQuery(db, row);
}

/** One indexed read on the unique token hash. */
export async function findSessionByHash(db: Executor, tokenHash: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export async function revokeSession(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

/** A session of the integration and mode, by id. */
export async function findSessionById(db: Executor, tenant: { integrationId: string; mode: SessionRow['mode'] }, id: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).where('integration_id', '=', tenant.integrationId).where('mode', '=', tenant.mode).executeTakeFirst();
}
