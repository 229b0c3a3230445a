import type { Kysely, Migration } from 'kysely';

/**
 * rate-limiter-flexible's table, created here rather than by the library: the migrator runs under
 * a lock, while the library's own CREATE TABLE IF NOT EXISTS races when replicas start together
 * (Postgres answers 42P07). `key` is text: an email identifier can make a key longer than the
 * library's varchar(255).
 */
export const rateLimits: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('rate_limits')
      .ifNotExists()
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('expire', 'bigint')
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('rate_limits').ifExists().execute();
  },
};
