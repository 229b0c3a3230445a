import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Sandbox inboxes (API.md "Sandbox"):
 * - `sandbox_inboxes`: one per inbox (`inb_…`), its integration and mode, kind (phone | email),
 *   address (E.164 or email, lower-cased), source (generated | pool), country, the integrator's code
 *   pattern, status, the end of its window, and what the answers need without reading the messages
 *   (`otp_count`, `last_code`). `open_address` is the address while the inbox is open and null once
 *   closed: its unique index makes "one open inbox per address" hold under races, and is the
 *   address look-up of every inbound message. `pool_number` is the rented pool number, if any.
 * - `sandbox_inbox_messages`: what landed in an inbox (`msg_…`), in arrival order (`seq`: 0, 1, …
 *   within the inbox, as many ids share a millisecond), with the code found in it; a
 *   redelivery from the same source (an outbox id, an SMTP message id, a Twilio MessageSid) is
 *   stored once per inbox.
 * - `sandbox_pool_numbers`: real numbers an operator lends to phone inboxes (`source: "pool"`);
 *   `rented_by` is the inbox holding it, null when free.
 */
export const inboxes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('sandbox_inboxes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('open_address', 'text')
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('country', 'text')
      .addColumn('regex', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('otp_count', 'integer', (c) => c.notNull())
      .addColumn('last_code', 'text')
      .addColumn('pool_number', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sandbox_inboxes_open_address_idx').on('sandbox_inboxes').column('open_address').unique().execute();
    await db.schema.createIndex('sandbox_inboxes_list_idx').on('sandbox_inboxes').columns(['integration_id', 'mode', 'created_at', 'id']).execute();
    // The sweeper's look-up: open inboxes by the end of their window (a partial index of the open ones).
    await db.schema
      .createIndex('sandbox_inboxes_open_expiry_idx')
      .on('sandbox_inboxes')
      .column('expires_at')
      .where(sql.ref('open_address'), 'is not', null)
      .execute();

    await db.schema
      .createTable('sandbox_inbox_messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('inbox_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('from_address', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('code', 'text')
      .addColumn('source_id', 'text', (c) => c.notNull())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sandbox_inbox_messages_source_idx').on('sandbox_inbox_messages').columns(['inbox_id', 'source_id']).unique().execute();
    await db.schema.createIndex('sandbox_inbox_messages_inbox_idx').on('sandbox_inbox_messages').columns(['inbox_id', 'seq']).execute();

    await db.schema
      .createTable('sandbox_pool_numbers')
      .addColumn('number', 'text', (c) => c.primaryKey())
      .addColumn('label', 'text')
      .addColumn('country', 'text')
      .addColumn('rented_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('sandbox_pool_numbers').ifExists().execute();
    await db.schema.dropTable('sandbox_inbox_messages').ifExists().execute();
    await db.schema.dropTable('sandbox_inboxes').ifExists().execute();
  },
};
