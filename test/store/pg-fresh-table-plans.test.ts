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
 */
import pg from 'pg';
import type { Compilable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDueQuery } from '../../src/store/outbox-repo.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { expireDueQuery } from '../../src/store/verifications-repo.js';
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
});
