import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';

/**
 * `meta`: small key/value facts that travel with the database. The first is a value sealed under
 * the server secret at the first start, so a later start with another secret is refused with a
 * clear message (see verifyServerSecret) instead of failing on the first sealed value it opens.
 * Also: outbox messages that finished before payloads stopped carrying the sealed code lose it.
 */
export const meta: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('meta')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
    const wiped = db.getExecutor().adapter instanceof PostgresAdapter
      ? sql`(payload_json::jsonb - 'code_sealed')::text`
      : sql`json_remove(payload_json, '$.code_sealed')`;
    await sql`update outbox set payload_json = ${wiped} where status in ('done', 'dead') and payload_json like '%code_sealed%'`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('meta').ifExists().execute();
  },
};
