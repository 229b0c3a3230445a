import type { Kysely, Migration } from 'kysely';

/** Identities, their references (several after a merge), merge tombstones and recorded events. */
export const identities: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('identities')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('reference', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('email_verified_at', 'bigint')
      .addColumn('phone', 'text')
      .addColumn('phone_verified_at', 'bigint')
      .addColumn('cpf', 'text')
      .addColumn('name', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    for (const column of ['email', 'phone', 'cpf']) {
      await db.schema.createIndex(`identities_${column}_idx`).on('identities').columns(['integration_id', 'mode', column]).execute();
    }

    await db.schema
      .createTable('identity_references')
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('reference', 'text', (c) => c.notNull())
      .addColumn('identity_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('identity_references_pk', ['integration_id', 'mode', 'reference'])
      .execute();
    await db.schema.createIndex('identity_references_identity_idx').on('identity_references').column('identity_id').execute();

    await db.schema
      .createTable('identity_merges')
      .addColumn('merged_id', 'text', (c) => c.primaryKey())
      .addColumn('survivor_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('data_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('events_created_idx').on('events').columns(['integration_id', 'mode', 'created_at']).execute();

    await db.schema.alterTable('verifications').addColumn('identity_id', 'text').execute();
    await db.schema.alterTable('verifications').addColumn('destination', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('verifications').dropColumn('destination').execute();
    await db.schema.alterTable('verifications').dropColumn('identity_id').execute();
    for (const table of ['events', 'identity_merges', 'identity_references', 'identities']) await db.schema.dropTable(table).ifExists().execute();
  },
};
