import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { Store } from '../../src/store/database.js';
import { api } from '../helpers/runtime.js';
import { admin, expectJson } from '../routes/support.js';

export interface LedgerEntryBody {
  id: string;
  type: 'topup' | 'debit' | 'refund';
  amount: string;
  balance_after: string;
  currency: string;
  reference: string | null;
  description: string | null;
  mode: string | null;
  created_at: string;
}

/** Tops up through the operator API, expecting `status` (201 new, 200 an existing reference). */
export async function topUp(app: FastifyInstance, integrationId: string, body: Record<string, unknown>, status = 201, headers?: Record<string, string>): Promise<LedgerEntryBody> {
  return expectJson<LedgerEntryBody>(await admin(app).post(`/admin/v1/integrations/${integrationId}/topups`, body, headers), status);
}

export async function balanceOf(app: FastifyInstance, key: string): Promise<string> {
  return expectJson<{ balance: string }>(await api(app, key).get('/v1/balance'), 200).balance;
}

/** Every ledger entry of the integration through the API, newest first (follows the cursors). */
export async function allTransactions(app: FastifyInstance, key: string): Promise<LedgerEntryBody[]> {
  const out: LedgerEntryBody[] = [];
  let cursor: string | null = null;
  do {
    const page: { data: LedgerEntryBody[]; next_cursor: string | null } = expectJson(await api(app, key).get(`/v1/balance/transactions?limit=100${cursor ? `&cursor=${cursor}` : ''}`), 200);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** Decimal string → units (the tests never use floats for money either). */
export function units(text: string): bigint {
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  const n = BigInt(whole as string) * 10_000n + BigInt(fraction.padEnd(4, '0'));
  return text.startsWith('-') ? -n : n;
}

/** The ledger of an integration sums to its balance, and the balance is not negative (read from the store). */
export async function expectLedgerConsistent(store: Store, integrationId: string): Promise<bigint> {
  const entries = await store.db.selectFrom('ledger_entries').select(['amount']).where('integration_id', '=', integrationId).execute();
  const sum = entries.reduce((n, e) => n + BigInt(e.amount), 0n);
  const row = await store.db.selectFrom('balances').select('balance').where('integration_id', '=', integrationId).executeTakeFirst();
  const balance = BigInt(row?.balance ?? 0);
  expect(balance).toBe(sum);
  expect(balance >= 0n).toBe(true);
  return balance;
}
