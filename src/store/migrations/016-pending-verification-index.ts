import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `verifications_pending_idx` holds only pending verifications, by identifier (was
 * (integration_id, mode, canonical_identifier, status) over every row). Its readers (the look for
 * a pending verification of a send, the supersede and the resend) all ask for `status = 'pending'`,
 * spelled as a literal so that SQLite uses a partial index. A check that approves or fails a
 * verification then only removes its entry, instead of moving it to another status's place, and a
 * verification's history no longer grows the index. The latest-verification index still serves
 * reads of any status.
 */
export const pendingVerificationIndex: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_pending_idx').execute();
    await db.schema
      .createIndex('verifications_pending_idx')
      .on('verifications')
      .columns(['integration_id', 'mode', 'canonical_identifier'])
      .where(sql.ref('status'), '=', sql.lit('pending'))
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_pending_idx').execute();
    await db.schema.createIndex('verifications_pending_idx').on('verifications').columns(['integration_id', 'mode', 'canonical_identifier', 'status']).execute();
  },
};
