import { sql, type Kysely, type Migration } from 'kysely';

/**
 * One mailbox, many spellings: verifications keep the identifier as given (delivery, display) and
 * gain `canonical_identifier` (local part case-folded, `+tag` removed; a phone or CPF is its own),
 * which "the latest verification" and "cancel the pending one" look up by. The two look-up indexes
 * swap `identifier` for it, so neither grows with history nor adds an index per insert.
 */
export const canonicalIdentifierColumn: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const d = db as Kysely<Record<string, Record<string, unknown>>>;
    await db.schema.alterTable('verifications').addColumn('canonical_identifier', 'text').execute();
    await sql`update verifications set canonical_identifier = identifier`.execute(db);
    // Emails whose spelling is not canonical (upper case or a +tag): a frozen copy of the rule, so
    // this migration means the same whatever the code later becomes.
    const emails = (await d
      .selectFrom('verifications')
      .select(['id', 'identifier'])
      .where('identifier_kind', '=', 'email')
      .execute()) as { id: string; identifier: string }[];
    for (const { id, identifier } of emails) {
      const canonical = canonicalEmail(identifier);
      if (canonical !== identifier) await d.updateTable('verifications').set({ canonical_identifier: canonical }).where('id', '=', id).execute();
    }
    await db.schema.dropIndex('verifications_latest_idx').execute();
    await db.schema.dropIndex('verifications_pending_idx').execute();
    await db.schema.createIndex('verifications_latest_idx').on('verifications').columns(['integration_id', 'mode', 'canonical_identifier', 'created_at', 'id']).execute();
    await db.schema.createIndex('verifications_pending_idx').on('verifications').columns(['integration_id', 'mode', 'canonical_identifier', 'status']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('verifications_pending_idx').execute();
    await db.schema.dropIndex('verifications_latest_idx').execute();
    await db.schema.createIndex('verifications_latest_idx').on('verifications').columns(['integration_id', 'mode', 'identifier', 'created_at', 'id']).execute();
    await db.schema.createIndex('verifications_pending_idx').on('verifications').columns(['integration_id', 'mode', 'identifier', 'status']).execute();
    await db.schema.alterTable('verifications').dropColumn('canonical_identifier').execute();
  },
};

function canonicalEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return value;
  const local = value.slice(0, at);
  const plus = local.indexOf('+', 1);
  return `${(plus > 0 ? local.slice(0, plus) : local).toLowerCase()}@${value.slice(at + 1).toLowerCase()}`;
}
