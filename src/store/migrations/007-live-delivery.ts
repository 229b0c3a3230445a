import type { Kysely, Migration } from 'kysely';

/**
 * Live delivery:
 * - each delivery attempt keeps its provider, the provider's message id (status callbacks find it by
 *   that), the provider's error code, its timestamps, and the message spec (`message_json`: where it
 *   goes, locale, brand, the remaining fallback route; never the code), so a fallback started by a
 *   callback or by silence can build the next attempt;
 * - `delivery_receipts` keeps a status callback that arrived before the send that it answers was
 *   recorded (a fast provider can call back before the worker commits), applied when it is;
 * - `integration_delivery`: an integration's provider overrides (sender, template, brand, texts,
 *   its own credentials sealed).
 */
export const liveDelivery: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    for (const column of ['provider', 'provider_message_id', 'error_code', 'message_json']) {
      await db.schema.alterTable('deliveries').addColumn(column, 'text').execute();
    }
    for (const column of ['sent_at', 'delivered_at', 'failed_at', 'fell_back_at']) {
      await db.schema.alterTable('deliveries').addColumn(column, 'bigint').execute();
    }
    await db.schema.createIndex('deliveries_provider_message_idx').on('deliveries').columns(['provider', 'provider_message_id']).execute();

    await db.schema
      .createTable('delivery_receipts')
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('provider_message_id', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('error_code', 'text')
      .addColumn('error', 'text')
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('delivery_receipts_pk', ['provider', 'provider_message_id', 'status'])
      .execute();

    await db.schema
      .createTable('integration_delivery')
      .addColumn('integration_id', 'text', (c) => c.primaryKey())
      .addColumn('settings_json', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('integration_delivery').ifExists().execute();
    await db.schema.dropTable('delivery_receipts').ifExists().execute();
    await db.schema.dropIndex('deliveries_provider_message_idx').execute();
    for (const column of ['provider', 'provider_message_id', 'error_code', 'message_json', 'sent_at', 'delivered_at', 'failed_at', 'fell_back_at']) {
      await db.schema.alterTable('deliveries').dropColumn(column).execute();
    }
  },
};
