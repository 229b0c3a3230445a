import type { Kysely, Migration } from 'kysely';

/**
 * Outgoing webhooks:
 * - `webhook_endpoints`: one per integration and mode (unique), its URL, the event types it wants
 *   (`*` or a JSON array), whether it is active (0/1; a 410 answer turns it off and says why in
 *   `disabled_reason`), its signing secret sealed under the server secret, and the secret it
 *   replaced while that one still signs beside it (`previous_secret_until`, 24 h after a rotation).
 * - `webhook_deliveries`: one per event and endpoint, written in the transaction that records the
 *   event (`pending`, or `held` while the endpoint is paused), then claimed under a lease by the
 *   webhook dispatcher, attempted, and retried on its own schedule until `succeeded` or `failed`.
 *   The id is derived from the event's (`whd_` + the event id's body), so the pair is written once.
 */
export const webhooks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('webhook_endpoints')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('events_json', 'text', (c) => c.notNull())
      .addColumn('is_active', 'integer', (c) => c.notNull())
      .addColumn('disabled_reason', 'text')
      .addColumn('secret_sealed', 'text', (c) => c.notNull())
      .addColumn('previous_secret_sealed', 'text')
      .addColumn('previous_secret_until', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_endpoints_tenant_idx').on('webhook_endpoints').columns(['integration_id', 'mode']).unique().execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('endpoint_id', 'text', (c) => c.notNull())
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint')
      .addColumn('locked_until', 'bigint')
      .addColumn('locked_by', 'text')
      .addColumn('last_attempt_at', 'bigint')
      .addColumn('last_response_status', 'integer')
      .addColumn('last_response_ms', 'integer')
      .addColumn('last_response_body', 'text')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_deliveries_event_idx').on('webhook_deliveries').columns(['event_id', 'endpoint_id']).unique().execute();
    await db.schema.createIndex('webhook_deliveries_due_idx').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('webhook_deliveries_list_idx').on('webhook_deliveries').columns(['integration_id', 'mode', 'created_at', 'id']).execute();
    await db.schema.createIndex('webhook_deliveries_endpoint_idx').on('webhook_deliveries').columns(['endpoint_id', 'status']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('webhook_deliveries').ifExists().execute();
    await db.schema.dropTable('webhook_endpoints').ifExists().execute();
  },
};
