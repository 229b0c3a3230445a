import DataLoader from 'dataloader';
import { prepared, slot } from './prepared.js';
import type { Executor, SandboxInboxMessagesTable, SandboxInboxesTable } from './tables.js';
import type { Scope } from './verifications-repo.js';

export type InboxRow = SandboxInboxesTable;
export type InboxMessageRow = SandboxInboxMessagesTable;

/**
 * Sandbox inboxes and what lands in them. State changes are conditional UPDATEs on the state the
 * caller read (`status`, `expires_at`): of two racing writers one changes the row and the other
 * changes nothing and reads again, on SQLite and Postgres alike.
 */

/** Inserts an open inbox; false when another open inbox holds the address (its unique index). */
export async function insertInbox(db: Executor, row: InboxRow): Promise<boolean> {
  const inserted = await db
    .insertInto('sandbox_inboxes')
    .values(row)
    .onConflict((oc) => oc.column('open_address').doNothing())
    .returning('id')
    .execute();
  return inserted.length === 1;
}

export async function findInbox(db: Executor, scope: Scope, id: string): Promise<InboxRow | undefined> {
  return db.selectFrom('sandbox_inboxes').selectAll().where('id', '=', id).where('integration_id', '=', scope.integrationId).where('mode', '=', scope.mode).executeTakeFirst();
}

// Asked for every test-mode message the outbox worker delivers: compiled once (prepared.ts).
const findOpenInboxQuery = prepared<{ address: string }, InboxRow>((db) => db.selectFrom('sandbox_inboxes').selectAll().where('open_address', '=', slot<string>('address')));

/** The open inbox at an address (lower-cased email or E.164), whoever owns it: one look-up in a unique index. */
export async function findOpenInbox(db: Executor, address: string): Promise<InboxRow | undefined> {
  const { rows } = await findOpenInboxQuery(db, { address });
  return rows[0];
}

/** findOpenInbox for a networked store: the look-ups asked for in the same turn go as one query. */
export function batchedOpenInboxes(db: Executor): (address: string) => Promise<InboxRow | undefined> {
  const loader = new DataLoader<string, InboxRow | undefined>(
    async (addresses) => {
      const rows = await db.selectFrom('sandbox_inboxes').selectAll().where('open_address', 'in', [...addresses]).execute();
      const byAddress = new Map(rows.map((row) => [row.open_address, row]));
      return addresses.map((address) => byAddress.get(address));
    },
    { cache: false, maxBatchSize: 200 },
  );
  return (address) => loader.load(address);
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listInboxes(db: Executor, scope: Scope, limit: number, after: { created_at: number; id: string } | null): Promise<InboxRow[]> {
  let q = db.selectFrom('sandbox_inboxes').selectAll().where('integration_id', '=', scope.integrationId).where('mode', '=', scope.mode);
  if (after) {
    q = q.where((eb) => eb.or([eb('created_at', '<', after.created_at), eb.and([eb('created_at', '=', after.created_at), eb('id', '<', after.id)])]));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/**
 * Moves an inbox from the state the caller read to `next`; a closed status frees its address (and
 * the caller releases its pool number). Returns the new row, or undefined when someone moved it first.
 */
export async function transitionInbox(
  db: Executor,
  id: string,
  from: { status: string; expires_at: number },
  next: { status: string; expires_at: number; open: boolean },
  now: number,
): Promise<InboxRow | undefined> {
  return db
    .updateTable('sandbox_inboxes')
    .set((eb) => ({
      status: next.status,
      expires_at: next.expires_at,
      open_address: next.open ? eb.ref('address') : null,
      updated_at: now,
    }))
    .where('id', '=', id)
    .where('status', '=', from.status)
    .where('expires_at', '=', from.expires_at)
    .returningAll()
    .executeTakeFirst();
}

/** Counts a code that landed in an open inbox whose window runs past `now`; undefined when it is closed or lapsed. */
export async function recordInboxCode(db: Executor, id: string, code: string, now: number): Promise<InboxRow | undefined> {
  return db
    .updateTable('sandbox_inboxes')
    .set((eb) => ({ status: 'otp_received', otp_count: eb('otp_count', '+', 1), last_code: code, updated_at: now }))
    .where('id', '=', id)
    .where('open_address', 'is not', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
}

/** Open inboxes whose window has ended, oldest first; on Postgres locked for the caller's transaction (others skip them). */
export async function lapsedInboxes(db: Executor, now: number, limit: number, postgres: boolean): Promise<InboxRow[]> {
  const select = db.selectFrom('sandbox_inboxes').selectAll().where('open_address', 'is not', null).where('expires_at', '<=', now).orderBy('expires_at').limit(limit);
  return (postgres ? select.forUpdate().skipLocked() : select).execute();
}

/** Stores a message in an inbox; false when this inbox already holds one from the same source (a redelivery). */
export async function insertInboxMessage(db: Executor, row: InboxMessageRow): Promise<boolean> {
  const inserted = await db
    .insertInto('sandbox_inbox_messages')
    .values(row)
    .onConflict((oc) => oc.columns(['inbox_id', 'source_id']).doNothing())
    .returning('id')
    .execute();
  return inserted.length === 1;
}

/** An inbox's messages, oldest first. */
export async function listInboxMessages(db: Executor, inboxId: string, limit: number): Promise<InboxMessageRow[]> {
  return db.selectFrom('sandbox_inbox_messages').selectAll().where('inbox_id', '=', inboxId).orderBy('seq').orderBy('id').limit(limit).execute();
}

export async function countInboxMessages(db: Executor, inboxId: string): Promise<number> {
  const row = await db
    .selectFrom('sandbox_inbox_messages')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('inbox_id', '=', inboxId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
