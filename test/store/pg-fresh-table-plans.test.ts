/**
 * Query plans on Postgres, made while the tables were empty (a fresh database, before autovacuum's
 * first ANALYZE) and kept by a prepared statement (as the store's named and pipelined statements
 * are) while the tables grow, and made again once the tables are analyzed. Each statement here is
 * planned generically on the empty table, rows are then written, and it is EXPLAIN ANALYZEd; then
 * the tables are analyzed and it is planned and explained again.
 * - The claims (an UPDATE of the rows a `LIMIT … FOR UPDATE SKIP LOCKED` subquery chose) run their
 *   subquery once (src/store/claim-once.ts): the LockRows node ran once, not once per outer row.
 *   Planned on analyzed tables, the UPDATE looks the chosen ids up instead of reading due rows and
 *   filtering them by id.
 * - The look for an identifier's pending verification reads its index by identifier, not every
 *   pending verification through the expiry sweep's index (migration 017). Planned on an empty
 *   table it did already; planned with 1,000 rows not yet analyzed (a benchmark's warm-up) it did not.
 * - The moves of one verification out of `pending`, by its id (the approval, a wrong code's count, a
 *   resend's, a cancel or an expiry noticed), take it by the primary key even when ANALYZE saw no
 *   pending verification and thousands are pending since: they read one row, not every pending one.
 */
import pg from 'pg';
import type { Compilable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDueQuery } from '../../src/store/outbox-repo.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { approveIfUnchanged, expireDueQuery, recordResend, recordWrongCode, transitionFromPending, transitionFromPendingReturning } from '../../src/store/verifications-repo.js';
import { claimStatement } from '../../src/store/webhooks-repo.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, POSTGRES_URL } from '../helpers/stores.js';

interface PlanNode {
  'Node Type': string;
  'Actual Loops': number;
  'Index Name'?: string;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

function nodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodes)];
}

function lockRowsLoops(plan: PlanNode): number[] {
  return nodes(plan)
    .filter((node) => node['Node Type'] === 'LockRows')
    .map((node) => node['Actual Loops']);
}

const NOW = 10_000;

describe.skipIf(!POSTGRES_URL)(`Postgres plans made on empty tables${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  let drop: () => Promise<void>;
  let store: Store;
  let client: pg.Client;

  beforeAll(async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    drop = db.drop;
    store = openStore(db.url);
    await migrateToLatest(store.db);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // The plan is made once, for the empty table, and kept: as a prepared statement keeps a generic plan.
    await client.query('set plan_cache_mode = force_generic_plan');
  });
  afterAll(async () => {
    await client?.end();
    await store?.close();
    await drop?.();
  });

  /** EXPLAIN ANALYZE of the prepared statement `name`, in a transaction rolled back. */
  async function explain(name: string, args: string): Promise<PlanNode> {
    await client.query('begin');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`explain (analyze, format json) execute ${name}(${args})`);
      return rows[0]!['QUERY PLAN'][0]!.Plan;
    } finally {
      await client.query('rollback');
    }
  }

  /**
   * Runs `before` (if any), prepares the statement (planned on the table as it is then, never
   * analyzed), runs `fill`, and explains it (`kept`: the plan made before the growth); then
   * ANALYZEs, prepares it again and explains it (`analyzed`: the plan once autovacuum has analyzed
   * the tables, as on a database that has run for a while).
   */
  async function plansAround(name: string, statement: { sql: string; parameters: readonly unknown[] }, fill: string, before?: string): Promise<{ kept: PlanNode; analyzed: PlanNode }> {
    if (before) await client.query(before);
    await client.query(`prepare ${name} as ${statement.sql}`);
    const args = statement.parameters.map((value) => (value === null ? 'null' : pg.escapeLiteral(String(value)))).join(', ');
    await client.query(`execute ${name}(${args})`);
    await client.query(fill);
    const kept = await explain(name, args);
    await client.query('analyze');
    await client.query(`deallocate ${name}`);
    await client.query(`prepare ${name} as ${statement.sql}`);
    return { kept, analyzed: await explain(name, args) };
  }

  /** Most rows any node of the plan read and dropped by a filter. */
  const removedByFilter = (plan: PlanNode): number => Math.max(0, ...nodes(plan).map((node) => node['Rows Removed by Filter'] ?? 0));

  /**
   * A claim's plans: the one kept from the empty table runs the candidates' subquery once; the one
   * made on analyzed tables also takes the chosen rows by their ids (reads no row it drops).
   */
  async function expectClaimPlans(name: string, query: Compilable<unknown>, fill: string): Promise<void> {
    const { kept, analyzed } = await plansAround(name, query.compile(), fill);
    expect(lockRowsLoops(kept)).toEqual([1]);
    expect(lockRowsLoops(analyzed)).toEqual([1]);
    expect(removedByFilter(analyzed)).toBe(0);
  }

  it('the webhook dispatcher claim', async () => {
    const claim = claimStatement(store.db, { workerId: 'whw_test', now: NOW, lease: NOW + 60_000, limit: 1_000, excludeEndpoints: [], postgres: true }).returningAll();
    const fill = `insert into webhook_deliveries (id, event_id, endpoint_id, integration_id, mode, event_type, status, attempts, next_attempt_at, created_at, updated_at)
      select 'whd_' || g, 'evt_' || g, 'we_1', 'int_1', 'test', 'verification.created', 'pending', 0, g, g, g from generate_series(1, 2000) g`;
    await expectClaimPlans('webhook_claim', claim, fill);
  });

  it('the outbox worker claim', async () => {
    const claim = claimDueQuery(store.db, 'wrk_test', NOW, 60_000, 1_000, true);
    const fill = `insert into outbox (id, kind, integration_id, mode, payload_json, status, attempts, available_at, created_at)
      select 'obx_' || g, 'message', 'int_1', 'test', '{}', 'pending', 0, g, g from generate_series(1, 2000) g`;
    await expectClaimPlans('outbox_claim', claim, fill);
  });

  it("a send's look for a pending verification of the identifier: by its index, not every pending one", async () => {
    // The statement of hasPending (anyPendingQuery in verifications-repo.ts); the supersede and the resend filter the same way.
    const look = {
      sql: `select "id" from "verifications" where "integration_id" = $1 and "mode" = $2 and "canonical_identifier" = $3 and "status" = 'pending' limit 1`,
      parameters: ['int_2', 'test', '+5521999'],
    };
    const rows = (from: number, to: number) => `insert into verifications (id, integration_id, mode, identifier, identifier_kind, country, channel, action, locale, status, code_hash, code_length, attempts, max_attempts, sends, expires_at, last_sent_at, created_at, updated_at, canonical_identifier)
      select 'ver_p' || g, 'int_2', 'test', '+5521' || g, 'phone', 'BR', 'sms', 'login', 'en', 'pending', 'h', 6, 0, 5, 1, 9e12::bigint, g, g, g, '+5521' || g from generate_series(${from}, ${to}) g`;
    const { kept, analyzed } = await plansAround('pending_look', look, rows(1_001, 3_000), rows(1, 1_000));
    for (const plan of [kept, analyzed]) {
      const scans = nodes(plan).filter((node) => node['Index Name'] !== undefined || node['Node Type'] === 'Seq Scan');
      expect(scans.map((node) => node['Index Name'] ?? node['Node Type'])).not.toContain('verifications_pending_expiry_idx');
      expect(scans.map((node) => node['Node Type'])).not.toContain('Seq Scan');
      expect(removedByFilter(plan)).toBe(0);
    }
  });

  it('the expiry sweep', async () => {
    const sweep = expireDueQuery(store.db, NOW, 1_000, true);
    const fill = `insert into verifications (id, integration_id, mode, identifier, identifier_kind, country, channel, action, locale, status, code_hash, code_length, attempts, max_attempts, sends, expires_at, last_sent_at, created_at, updated_at, canonical_identifier)
      select 'ver_' || g, 'int_1', 'test', '+5511' || g, 'phone', 'BR', 'sms', 'login', 'en', 'pending', 'h', 6, 0, 5, 1, g, g, g, g, '+5511' || g from generate_series(1, 2000) g`;
    await expectClaimPlans('expiry_sweep', sweep, fill);
  });
  it('the moves of one verification out of pending take it by its id, even when ANALYZE saw none pending', async () => {
    const rows = (prefix: string, status: string, from: number, to: number) => `insert into verifications (id, integration_id, mode, identifier, identifier_kind, country, channel, action, locale, status, code_hash, code_length, attempts, max_attempts, sends, expires_at, last_sent_at, created_at, updated_at, canonical_identifier)
      select '${prefix}' || g, 'int_3', 'test', '+5531' || g, 'phone', 'BR', 'sms', 'login', 'en', '${status}', 'h', 6, 0, 5, 1, 9e12::bigint, 1, g, 7, '+5531' || g from generate_series(${from}, ${to}) g`;
    // The usual state when autovacuum analyzes: the verifications are approved (or expired) by then.
    await client.query('delete from verifications'); // the other tests' pending ones
    await client.query(rows('ver_done_', 'approved', 1, 1_000));
    await client.query('analyze verifications');
    await client.query(rows('ver_open_', 'pending', 1, 3_000)); // a burst since
    // What each move sends, captured as the store runs it (on rows of their own), then explained.
    const sent: Array<{ text: string; values: unknown[] }> = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const config = args[0] as string | { text: string; values?: unknown[] };
      const text = typeof config === 'string' ? config : config.text;
      if (/^(with "approved" as \()?update "verifications"/.test(text)) sent.push({ text, values: (typeof config === 'string' ? args[1] : config.values) as unknown[] ?? [] });
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      await approveIfUnchanged(store.db, { ...(await client.query("select * from verifications where id = 'ver_open_1'")).rows[0], deliveries: [] }, NOW);
      expect(await transitionFromPending(store.db, 'ver_open_2', { status: 'canceled', failure_reason: 'superseded', now: NOW })).toBe(true);
      expect(await transitionFromPendingReturning(store.db, 'ver_open_3', { status: 'expired', failure_reason: 'expired', now: NOW })).toMatchObject({ status: 'expired' });
      expect(await recordWrongCode(store.db, 'ver_open_4', NOW, false)).toMatchObject({ attempts: 1 });
      expect(await recordResend(store.db, 'ver_open_5', 5, NOW, NOW)).toBe(true);
    } finally {
      pg.Client.prototype.query = original;
    }
    expect(sent).toHaveLength(5);
    expect(await client.query("select count(*)::int as n from verifications where id in ('ver_open_1', 'ver_open_2', 'ver_open_3') and status <> 'pending'")).toMatchObject({ rows: [{ n: 3 }] });
    for (const [i, statement] of sent.entries()) {
      const name = `by_id_move_${i}`;
      await client.query(`prepare ${name} as ${statement.text}`);
      // Another pending row of the burst, so that the move finds one to change.
      const values = statement.values.map((value) => (typeof value === 'string' && value.startsWith('ver_open_') ? `ver_open_${100 + i}` : value));
      const plan = await explain(name, values.map((value) => (value === null ? 'null' : pg.escapeLiteral(String(value)))).join(', '));
      const scans = nodes(plan).filter((node) => node['Index Name'] !== undefined || node['Node Type'] === 'Seq Scan');
      expect(scans.map((node) => node['Index Name'] ?? node['Node Type']), statement.text).toContain('verifications_pkey');
      expect(scans.map((node) => node['Index Name'] ?? node['Node Type']), statement.text).not.toContain('verifications_pending_idx');
      expect(removedByFilter(plan), statement.text).toBe(0);
    }
  });
});
