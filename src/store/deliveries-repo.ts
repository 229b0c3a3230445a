import DataLoader from 'dataloader';
import { sql } from 'kysely';
import { allColumns, prepared, slot, slots, type QueryRunner } from './prepared.js';
import type { DeliveriesTable, DeliveryReceiptsTable, Executor, Mode } from './tables.js';

export type DeliveryRow = DeliveriesTable;
export type ReceiptRow = DeliveryReceiptsTable;

/** Every column of `deliveries` (checked against the table's type). */
export const DELIVERY_COLUMNS = allColumns<DeliveryRow>()([
  'id', 'verification_id', 'channel', 'status', 'error', 'created_at', 'updated_at', 'provider', 'provider_message_id',
  'error_code', 'message_json', 'sent_at', 'delivered_at', 'failed_at', 'fell_back_at',
]);

const insertDeliveryQuery = prepared<DeliveryRow>((db) => db.insertInto('deliveries').values(slots<DeliveryRow>(DELIVERY_COLUMNS)), { deferrable: true });

export async function insertDelivery(db: QueryRunner, row: DeliveryRow): Promise<void> {
  await insertDeliveryQuery(db, row);
}

/** Every delivery attempt of these verifications, oldest first. */
export async function listDeliveries(db: Executor, verificationIds: string[]): Promise<DeliveryRow[]> {
  if (verificationIds.length === 0) return [];
  return db.selectFrom('deliveries').selectAll().where('verification_id', 'in', verificationIds).orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
}

const deliveriesOfQuery = prepared<{ verificationId: string }, DeliveryRow>((db) =>
  db.selectFrom('deliveries').selectAll().where('verification_id', '=', slot<string>('verificationId')).orderBy('created_at', 'asc').orderBy('id', 'asc'),
);

/** Every delivery attempt of one verification, oldest first (prepared: events of the send and check paths read it). */
export async function deliveriesOf(db: QueryRunner, verificationId: string): Promise<DeliveryRow[]> {
  const { rows } = await deliveriesOfQuery(db, { verificationId });
  return rows;
}

/** A delivery with what the sender needs of its verification. */
export interface DeliveryForSend extends DeliveryRow {
  integration_id: string;
  mode: Mode;
  v_status: string;
  v_expires_at: number;
  v_code_sealed: string | null;
}

const loadForSendQuery = prepared<{ id: string }, DeliveryForSend>((db) =>
  db
    .selectFrom('deliveries as d')
    .innerJoin('verifications as v', 'v.id', 'd.verification_id')
    .selectAll('d')
    .select(['v.integration_id', 'v.mode', 'v.status as v_status', 'v.expires_at as v_expires_at', 'v.code_sealed as v_code_sealed'])
    .where('d.id', '=', slot<string>('id')),
);

/** One read for the worker: the delivery, its verification's state and sealed code. */
export async function loadDeliveryForSend(db: Executor, id: string): Promise<DeliveryForSend | undefined> {
  const { rows } = await loadForSendQuery(db, { id });
  return rows[0];
}

/**
 * loadDeliveryForSend for a networked store: the reads asked for in the same turn (the worker starts
 * a batch's messages together) go as one query, instead of a round trip each.
 */
export function batchedDeliveriesForSend(db: Executor): (id: string) => Promise<DeliveryForSend | undefined> {
  const loader = new DataLoader<string, DeliveryForSend | undefined>(
    async (ids) => {
      const rows = await db
        .selectFrom('deliveries as d')
        .innerJoin('verifications as v', 'v.id', 'd.verification_id')
        .selectAll('d')
        .select(['v.integration_id', 'v.mode', 'v.status as v_status', 'v.expires_at as v_expires_at', 'v.code_sealed as v_code_sealed'])
        .where('d.id', 'in', [...ids])
        .execute();
      const byId = new Map(rows.map((row) => [row.id, row as DeliveryForSend]));
      return ids.map((id) => byId.get(id));
    },
    { cache: false, maxBatchSize: 200 },
  );
  return (id) => loader.load(id);
}

/** The delivery a provider's message id belongs to (status callbacks). */
export async function findByProviderMessage(db: Executor, provider: string, providerMessageId: string): Promise<DeliveryForSend | undefined> {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('verifications as v', 'v.id', 'd.verification_id')
    .selectAll('d')
    .select(['v.integration_id', 'v.mode', 'v.status as v_status', 'v.expires_at as v_expires_at', 'v.code_sealed as v_code_sealed'])
    .where('d.provider', '=', provider)
    .where('d.provider_message_id', '=', providerMessageId)
    .executeTakeFirst();
}

const markSentQuery = prepared<{ id: string; status: string; provider: string | null; providerMessageId: string | null; now: number; deliveredAt: number | null }>((db) =>
  db
    .updateTable('deliveries')
    .set({
      status: slot('status'),
      provider: slot('provider'),
      provider_message_id: slot('providerMessageId'),
      error: null,
      error_code: null,
      sent_at: slot('now'),
      delivered_at: slot('deliveredAt'),
      updated_at: slot('now'),
    })
    .where('id', '=', slot<string>('id'))
    .where('status', '=', 'queued'),
);

/** The provider accepted the message (`sent`), or the channel delivers at once (`delivered`: the sandbox). */
export async function markSent(db: Executor, id: string, input: { status: 'sent' | 'delivered'; provider: string | null; providerMessageId: string | null; now: number }): Promise<void> {
  await markSentQuery(db, { id, status: input.status, provider: input.provider, providerMessageId: input.providerMessageId, now: input.now, deliveredAt: input.status === 'delivered' ? input.now : null });
}

/** The attempt failed for good (queued → failed). */
export async function markFailed(db: Executor, id: string, input: { provider: string | null; errorCode: string | null; error: string; now: number }): Promise<boolean> {
  const res = await db
    .updateTable('deliveries')
    .set({ status: 'failed', provider: input.provider, error_code: input.errorCode, error: input.error, failed_at: input.now, updated_at: input.now })
    .where('id', '=', id)
    .where('status', 'in', ['queued', 'sent'])
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** A transient failure the outbox will retry: the delivery stays queued and shows the last error. */
export async function noteRetry(db: Executor, id: string, input: { provider: string | null; errorCode: string | null; error: string; now: number }): Promise<void> {
  await db
    .updateTable('deliveries')
    .set({ provider: input.provider, error_code: input.errorCode, error: input.error, updated_at: input.now })
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .execute();
}

/** A receipt from the provider, applied only forwards: queued → sent → delivered | failed. */
export async function applyReceipt(db: Executor, id: string, receipt: { status: 'sent' | 'delivered' | 'failed'; errorCode: string | null; error: string | null; at: number; now: number }): Promise<boolean> {
  const from = receipt.status === 'sent' ? ['queued'] : ['queued', 'sent'];
  const set =
    receipt.status === 'sent'
      ? { status: 'sent', sent_at: receipt.at, updated_at: receipt.now }
      : receipt.status === 'delivered'
        ? { status: 'delivered', delivered_at: receipt.at, updated_at: receipt.now }
        : { status: 'failed', failed_at: receipt.at, error_code: receipt.errorCode, error: receipt.error, updated_at: receipt.now };
  const res = await db.updateTable('deliveries').set(set).where('id', '=', id).where('status', 'in', from).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Claims the one fallback an attempt may start (whether its cause is an error, a failed receipt or silence). */
export async function claimFallback(db: Executor, id: string, now: number): Promise<boolean> {
  const res = await db.updateTable('deliveries').set({ fell_back_at: now }).where('id', '=', id).where('fell_back_at', 'is', null).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Keeps a receipt whose send is not recorded yet (a provider may call back before the worker commits). */
export async function keepReceipt(db: Executor, row: ReceiptRow): Promise<void> {
  await db.insertInto('delivery_receipts').values(row).onConflict((oc) => oc.doNothing()).execute();
}

const receiptsQuery = prepared<{ provider: string; providerMessageId: string }, ReceiptRow>((db) =>
  db
    .selectFrom('delivery_receipts')
    .selectAll()
    .where('provider', '=', slot<string>('provider'))
    .where('provider_message_id', '=', slot<string>('providerMessageId'))
    .orderBy('received_at'),
);

/** Takes (reads and deletes) the receipts kept for a provider message, oldest first (usually none: one prepared read). */
/**
 * Whether a receipt may be waiting in delivery_receipts for its send (`maybe`). On the embedded store
 * every receipt is kept by this process, so until it keeps one (or one was left by an earlier run)
 * there is none to look for, and a recorded send skips that read. On Postgres another process may
 * keep one at any time: `maybe` stays true.
 */
export interface KeptReceiptsHint {
  maybe: boolean;
}

export async function keptReceiptsHint(db: Executor, postgres: boolean): Promise<KeptReceiptsHint> {
  if (postgres) return { maybe: true };
  const row = await db.selectFrom('delivery_receipts').select('provider').limit(1).executeTakeFirst();
  return { maybe: row !== undefined };
}

export async function takeReceipts(db: Executor, provider: string, providerMessageId: string): Promise<ReceiptRow[]> {
  const { rows } = await receiptsQuery(db, { provider, providerMessageId });
  if (rows.length > 0) await db.deleteFrom('delivery_receipts').where('provider', '=', provider).where('provider_message_id', '=', providerMessageId).execute();
  return rows;
}

/**
 * Serializes the recording of a send and the receipts for its provider message id (Postgres: a
 * transaction-scoped advisory lock; SQLite writes are serial already). Without it a receipt could be
 * kept by a callback that did not yet see the send while the send's transaction looked for kept
 * receipts before the callback committed, and stay unapplied.
 */
export async function lockProviderMessage(db: Executor, provider: string, providerMessageId: string, postgres: boolean): Promise<void> {
  if (!postgres) return;
  await sql`select pg_advisory_xact_lock(hashtextextended(${`receipt:${provider}:${providerMessageId}`}, 0))`.execute(db);
}
