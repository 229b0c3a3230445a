import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Pricing and the prepaid balance (issue 12, part 5):
 * - `prices`: the operator's catalog, one price per `channel` (a send channel: whatsapp | sms | email;
 *   an inbox rental: inbox_phone | inbox_email) and `country` (ISO 3166 alpha-2, or `*` for the
 *   default), in units of 1/10,000 of the configured currency. Seeded with the defaults below.
 * - `balances`: one per integration (shared by its test and live modes), in units; changed only by
 *   the conditional UPDATEs of billing/ledger.ts, which never take it under zero.
 * - `ledger_entries`: append-only, one per `topup | debit | refund`, with the signed amount and the
 *   balance after it. `(integration_id, kind, reference)` is unique: a verification or an inbox is
 *   debited and refunded at most once, and a top-up reference is taken once.
 */
export const DEFAULT_PRICES: ReadonlyArray<{ channel: string; country: string; price: number }> = [
  { channel: 'whatsapp', country: '*', price: 500 }, // 0.0500
  { channel: 'sms', country: '*', price: 750 }, // 0.0750
  { channel: 'sms', country: 'US', price: 100 }, // 0.0100
  { channel: 'email', country: '*', price: 10 }, // 0.0010
  { channel: 'inbox_phone', country: '*', price: 5_000 }, // 0.5000
  { channel: 'inbox_email', country: '*', price: 100 }, // 0.0100
];

export const billing: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('prices')
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('country', 'text', (c) => c.notNull())
      .addColumn('price', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('prices_pk', ['channel', 'country'])
      .execute();
    const now = Date.now();
    await db
      .insertInto('prices' as never)
      .values(DEFAULT_PRICES.map((p) => ({ ...p, updated_at: now })) as never)
      .execute();

    await db.schema
      .createTable('balances')
      .addColumn('integration_id', 'text', (c) => c.primaryKey())
      .addColumn('balance', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addCheckConstraint('balances_not_negative', sql`balance >= 0`)
      .execute();

    await db.schema
      .createTable('ledger_entries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('integration_id', 'text', (c) => c.notNull())
      .addColumn('mode', 'text') // the key's mode that caused it; null for a top-up
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('amount', 'bigint', (c) => c.notNull()) // signed: a debit is negative
      .addColumn('balance_after', 'bigint', (c) => c.notNull())
      .addColumn('reference', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('ledger_entries_reference_idx').on('ledger_entries').columns(['integration_id', 'kind', 'reference']).unique().execute();
    await db.schema.createIndex('ledger_entries_list_idx').on('ledger_entries').columns(['integration_id', 'created_at', 'id']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('ledger_entries').ifExists().execute();
    await db.schema.dropTable('balances').ifExists().execute();
    await db.schema.dropTable('prices').ifExists().execute();
  },
};
