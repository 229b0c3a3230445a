import type { Kysely, Migration } from 'kysely';

/**
 * Indexes that match the queries' full order, so no look-up grows with history:
 * - "the identifier's latest verification" orders by (created_at, id); the first index stopped at
 *   created_at, so SQLite sorted every verification of the identifier on each check (an identifier
 *   with thousands of past verifications made each check cost milliseconds);
 * - superseding the pending verification filters on status;
 * - sandbox listings order by (received_at, id), with or without a recipient.
 */
export const latestVerificationIndex: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_latest_idx').execute();
    await db.schema.createIndex('verifications_latest_idx').on('verifications').columns(['integration_id', 'mode', 'identifier', 'created_at', 'id']).execute();
    await db.schema.createIndex('verifications_pending_idx').on('verifications').columns(['integration_id', 'mode', 'identifier', 'status']).execute();
    await db.schema.dropIndex('sandbox_messages_to_idx').execute();
    await db.schema.createIndex('sandbox_messages_to_idx').on('sandbox_messages').columns(['integration_id', 'mode', 'to_address', 'received_at', 'id']).execute();
    await db.schema.createIndex('sandbox_messages_all_idx').on('sandbox_messages').columns(['integration_id', 'mode', 'received_at', 'id']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('sandbox_messages_all_idx').execute();
    await db.schema.dropIndex('sandbox_messages_to_idx').execute();
    await db.schema.createIndex('sandbox_messages_to_idx').on('sandbox_messages').columns(['integration_id', 'mode', 'to_address', 'received_at']).execute();
    await db.schema.dropIndex('verifications_pending_idx').execute();
    await db.schema.dropIndex('verifications_latest_idx').execute();
    await db.schema.createIndex('verifications_latest_idx').on('verifications').columns(['integration_id', 'mode', 'identifier', 'created_at']).execute();
  },
};
