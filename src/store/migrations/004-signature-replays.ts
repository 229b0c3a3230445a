import type { Kysely, Migration } from 'kysely';

/**
 * Request signatures already accepted, so a replayed one is refused (Signed requests). A row lives
 * twice the timestamp window; expired rows are purged now and then by the replay guard.
 */
export const signatureReplays: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('signature_replays')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('signature_replays_expires_at').on('signature_replays').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('signature_replays').ifExists().execute();
  },
};
