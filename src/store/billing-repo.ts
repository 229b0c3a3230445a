import { sql } from 'kysely';
import { prepared, slot, type QueryRunner } from './prepared.js';
import type { Executor, LedgerEntriesTable, Mode, PricesTable } from './tables.js';

/**
 * Storage of the prepaid balance, its ledger and the price catalog (migration 013). Amounts are
 * units of 1/10,000 (billing/money.ts), passed and read as numbers. The balance changes only by the
 * two conditional statements below, each one atomic on both stores, so concurrent writers can
 * neither lose an update nor take a balance under zero.
 */

export type LedgerEntryRow = LedgerEntriesTable;

const takeQuery = prepared<{ integration_id: string; amount: number; now: number }, { balance: number }>((db) =>
  db
    .updateTable('balances')
    .set({ balance: sql<number>`balance - ${slot<number>('amount')}`, updated_at: slot<number>('now') })
    .where('integration_id', '=', slot<string>('integration_id'))
    .where('balance', '>=', slot<number>('amount'))
    .returning('balance'),
);

/** `balance -= amount` when the balance covers it; the new balance, or null (nothing changed) when it does not. */
export async function takeFromBalance(db: QueryRunner, integrationId: string, amount: number, now: number): Promise<number | null> {
  const { rows } = await takeQuery(db, { integration_id: integrationId, amount, now });
  return rows[0]?.balance ?? null;
}

const addQuery = prepared<{ integration_id: string; amount: number; now: number }, { balance: number }>((db) =>
  db
    .insertInto('balances')
    .values({ integration_id: slot('integration_id'), balance: slot('amount'), updated_at: slot('now') })
    .onConflict((oc) => oc.column('integration_id').doUpdateSet({ balance: sql<number>`balances.balance + excluded.balance`, updated_at: sql<number>`excluded.updated_at` }))
    .returning('balance'),
);

/** `balance += amount` (the row is created at the first credit); the new balance. */
export async function addToBalance(db: QueryRunner, integrationId: string, amount: number, now: number): Promise<number> {
  const { rows } = await addQuery(db, { integration_id: integrationId, amount, now });
  const row = rows[0];
  if (!row) throw new Error('the balance upsert returned no row');
  return row.balance;
}

const balanceQuery = prepared<{ integration_id: string }, { balance: number }>((db) =>
  db.selectFrom('balances').select('balance').where('integration_id', '=', slot<string>('integration_id')),
);

/** The integration's balance in units (0 before its first top-up). */
export async function readBalance(db: QueryRunner, integrationId: string): Promise<number> {
  const { rows } = await balanceQuery(db, { integration_id: integrationId });
  return rows[0]?.balance ?? 0;
}

const insertEntryQuery = prepared<LedgerEntryRow, { id: string }>((db) =>
  db
    .insertInto('ledger_entries')
    .values({
      id: slot('id'),
      integration_id: slot('integration_id'),
      mode: slot<Mode | null>('mode'),
      kind: slot('kind'),
      amount: slot('amount'),
      balance_after: slot('balance_after'),
      reference: slot('reference'),
      description: slot<string | null>('description'),
      created_at: slot('created_at'),
    })
    .onConflict((oc) => oc.columns(['integration_id', 'kind', 'reference']).doNothing())
    .returning('id'),
);

/**
 * Appends an entry unless one of the same kind and reference exists; whether it was appended. On
 * Postgres a concurrent insert of the same reference waits for the first to commit, then does nothing.
 */
export async function appendEntry(db: QueryRunner, row: LedgerEntryRow): Promise<boolean> {
  const { rows } = await insertEntryQuery(db, row);
  return rows.length > 0;
}

const settleEntryQuery = prepared<{ id: string; balance_after: number }>((db) =>
  db.updateTable('ledger_entries').set({ balance_after: slot<number>('balance_after') }).where('id', '=', slot<string>('id')),
);

/** Writes the balance after a credit appended before the balance moved (see billing/ledger.ts). */
export async function settleEntry(db: QueryRunner, id: string, balanceAfter: number): Promise<void> {
  await settleEntryQuery(db, { id, balance_after: balanceAfter });
}

const findEntryQuery = prepared<{ integration_id: string; kind: string; reference: string }, LedgerEntryRow>((db) =>
  db
    .selectFrom('ledger_entries')
    .selectAll()
    .where('integration_id', '=', slot<string>('integration_id'))
    .where('kind', '=', slot<string>('kind'))
    .where('reference', '=', slot<string>('reference')),
);

/** The entry of a kind for a reference (a verification's debit, a top-up's reference), if any. */
export async function findEntry(db: QueryRunner, integrationId: string, kind: string, reference: string): Promise<LedgerEntryRow | undefined> {
  const { rows } = await findEntryQuery(db, { integration_id: integrationId, kind, reference });
  return rows[0];
}

/** An entry by its id. */
export async function findEntryById(db: Executor, id: string): Promise<LedgerEntryRow | undefined> {
  return db.selectFrom('ledger_entries').selectAll().where('id', '=', id).executeTakeFirst();
}

/** One page of the ledger, newest first, after a keyset position; `limit + 1` rows (see toPage). */
export async function listEntries(db: Executor, integrationId: string, limit: number, after: { t: number; id: string } | null): Promise<LedgerEntryRow[]> {
  let query = db.selectFrom('ledger_entries').selectAll().where('integration_id', '=', integrationId);
  if (after) query = query.where((eb) => eb.or([eb('created_at', '<', after.t), eb.and([eb('created_at', '=', after.t), eb('id', '<', after.id)])]));
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
}

const pricesQuery = prepared<{ channel: string; country: string }, { country: string; price: number }>((db) =>
  db
    .selectFrom('prices')
    .select(['country', 'price'])
    .where('channel', '=', slot<string>('channel'))
    .where('country', 'in', [slot<string>('country'), '*']),
);

/** The price rows of a channel for a country and the default (`*`): at most two. */
export async function pricesFor(db: QueryRunner, channel: string, country: string): Promise<Array<{ country: string; price: number }>> {
  const { rows } = await pricesQuery(db, { channel, country });
  return rows;
}

/** The whole catalog, by channel then country (`*` sorts first). */
export async function listPrices(db: Executor): Promise<PricesTable[]> {
  return db.selectFrom('prices').selectAll().orderBy('channel').orderBy('country').execute();
}

/** Replaces the whole catalog in the caller's transaction. */
export async function replacePrices(db: Executor, rows: PricesTable[]): Promise<void> {
  await db.deleteFrom('prices').execute();
  if (rows.length > 0) await db.insertInto('prices').values(rows).execute();
}
