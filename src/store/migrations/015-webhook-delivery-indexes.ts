import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Fewer and smaller indexes on `webhook_deliveries`, which gets a row per event and two updates per
 * attempt (each index is one more page to write per change; the embedded store writes every dirty
 * page to its log at each commit):
 * - `webhook_deliveries_event_idx` (event_id, endpoint_id) goes: the delivery id is derived from the
 *   event id (`whd_` + its body), so the primary key already holds one delivery per event, and finds it.
 * - the due index holds only pending deliveries, by `next_attempt_at` (was (status, next_attempt_at)
 *   over every row, finished ones included): a delivery that succeeds leaves it.
 * - the per-endpoint index holds only held deliveries, for a resume (was (endpoint_id, status) over
 *   every row); holding an endpoint's pending ones (a pause, a 410) reads the pending index, and
 *   deleting an endpoint's deliveries goes by integration and mode (one endpoint each) through the
 *   list index.
 * Queries spell the statuses as literals: SQLite uses a partial index only when the query's terms imply
 * its WHERE.
 */
export const webhookDeliveryIndexes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('webhook_deliveries_event_idx').execute();
    await db.schema.dropIndex('webhook_deliveries_due_idx').execute();
    await db.schema.dropIndex('webhook_deliveries_endpoint_idx').execute();
    await db.schema.createIndex('webhook_deliveries_pending_idx').on('webhook_deliveries').column('next_attempt_at').where(sql.ref('status'), '=', sql.lit('pending')).execute();
    await db.schema.createIndex('webhook_deliveries_held_idx').on('webhook_deliveries').column('endpoint_id').where(sql.ref('status'), '=', sql.lit('held')).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('webhook_deliveries_held_idx').execute();
    await db.schema.dropIndex('webhook_deliveries_pending_idx').execute();
    await db.schema.createIndex('webhook_deliveries_event_idx').on('webhook_deliveries').columns(['event_id', 'endpoint_id']).unique().execute();
    await db.schema.createIndex('webhook_deliveries_due_idx').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('webhook_deliveries_endpoint_idx').on('webhook_deliveries').columns(['endpoint_id', 'status']).execute();
  },
};
