import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The expiry sweeper (services/expiry-sweeper.ts) looks for pending verifications past their expiry
 * every few seconds: a partial index holds only the pending ones, by expiry, so the look-up costs
 * the few due rows, not the table's history. (The sweeper's query spells `status = 'pending'` as a
 * literal: SQLite uses a partial index only when the query's terms imply its WHERE.)
 */
export const expirySweepIndex: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('verifications_pending_expiry_idx').on('verifications').column('expires_at').where(sql.ref('status'), '=', sql.lit('pending')).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_pending_expiry_idx').execute();
  },
};
