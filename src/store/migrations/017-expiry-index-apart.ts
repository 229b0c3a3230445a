import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `verifications_pending_expiry_idx` (the expiry sweep's) also requires `expires_at IS NOT NULL`,
 * which every sweep implies (`expires_at <= now`) and no look-up by identifier does, so that only
 * `verifications_pending_idx` can serve a send's look for a pending verification, its supersede and
 * the resend.
 *
 * Both partial indexes had the same predicate (`status = 'pending'`), so either could answer those
 * look-ups: by identifier, or by reading every pending verification and filtering. On Postgres a
 * plan made while the table was empty (a fresh database, before autovacuum's first ANALYZE) costed
 * the two alike and could pick the expiry index; the connection's prepared statement then kept that
 * plan while the table grew, and each send read every pending verification (651 of them in 4 ms, in
 * a benchmark's first seconds). SQLite proves `z IS NOT NULL` from a comparison on z as Postgres
 * does, so the sweep keeps its index on both.
 */
export const expiryIndexApart: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_pending_expiry_idx').execute();
    await db.schema
      .createIndex('verifications_pending_expiry_idx')
      .on('verifications')
      .column('expires_at')
      .where((eb) => eb.and([eb(sql.ref('status'), '=', sql.lit('pending')), eb(sql.ref('expires_at'), 'is not', null)]))
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_pending_expiry_idx').execute();
    await db.schema.createIndex('verifications_pending_expiry_idx').on('verifications').column('expires_at').where(sql.ref('status'), '=', sql.lit('pending')).execute();
  },
};
