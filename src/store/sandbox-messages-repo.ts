import { allColumns, prepared, slots } from './prepared.js';
import type { Executor, SandboxMessagesTable } from './tables.js';
import type { Scope } from './verifications-repo.js';

export type SandboxMessageRow = SandboxMessagesTable;

const SANDBOX_MESSAGE_COLUMNS = allColumns<SandboxMessageRow>()([
  'id', 'integration_id', 'mode', 'to_address', 'channel', 'subject', 'body', 'code', 'verification_id', 'source_id', 'received_at',
]);
const captureQuery = prepared<SandboxMessageRow>((db) =>
  db
    .insertInto('sandbox_messages')
    .values(slots<SandboxMessageRow>(SANDBOX_MESSAGE_COLUMNS))
    .onConflict((oc) => oc.column('source_id').doNothing()),
);

/** Inserts a captured message; a second capture from the same source (a redelivery) is ignored. */
export async function captureMessage(db: Executor, row: SandboxMessageRow): Promise<void> {
  await captureQuery(db, row);
}

/** Newest first, keyset-paginated on (received_at, id). */
export async function listMessages(
  db: Executor,
  scope: Scope,
  to: string | null,
  limit: number,
  after: { received_at: number; id: string } | null,
): Promise<SandboxMessageRow[]> {
  let q = db.selectFrom('sandbox_messages').selectAll().where('integration_id', '=', scope.integrationId).where('mode', '=', scope.mode);
  if (to !== null) q = q.where('to_address', '=', to);
  if (after) {
    q = q.where((eb) =>
      eb.or([eb('received_at', '<', after.received_at), eb.and([eb('received_at', '=', after.received_at), eb('id', '<', after.id)])]),
    );
  }
  return q.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}
