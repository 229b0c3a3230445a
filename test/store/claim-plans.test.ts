/**
 * The Postgres claims (an UPDATE of the rows a `LIMIT … FOR UPDATE SKIP LOCKED` subquery chose) run
 * their subquery once, whatever the planner believes about the table (src/store/claim-once.ts). The
 * case that went wrong: a plan made while the table was empty, kept by a prepared statement (as the
 * store's named queries are) while the table grows. Each claim here is planned generically on the
 * empty table, 2,000 due rows are then written, and the claim of 1,000 is EXPLAIN ANALYZEd: its
 * candidates' scan (the LockRows node) must have run once, not once per outer row.
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
  Plans?: PlanNode[];
}

function lockRowsLoops(node: PlanNode): number[] {
  return [...(node['Node Type'] === 'LockRows' ? [node['Actual Loops']] : []), ...(node.Plans ?? []).flatMap(lockRowsLoops)];
}

const NOW = 10_000;

describe.skipIf(!POSTGRES_URL)(`claims on Postgres run their candidates' subquery once${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
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

  /** Prepares `query` now (on the empty table), runs `fill`, then EXPLAIN ANALYZEs it in a transaction rolled back. */
  async function loopsAfterGrowth(name: string, query: Compilable<unknown>, fill: string): Promise<number[]> {
    const { sql, parameters } = query.compile();
    await client.query(`prepare ${name} as ${sql}`);
    const args = parameters.map((value) => (value === null ? 'null' : pg.escapeLiteral(String(value)))).join(', ');
    await client.query(`execute ${name}(${args})`);
    await client.query(fill);
    await client.query('begin');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`explain (analyze, format json) execute ${name}(${args})`);
      return lockRowsLoops(rows[0]!['QUERY PLAN'][0]!.Plan);
    } finally {
      await client.query('rollback');
    }
  }

  it('the webhook dispatcher claim', async () => {
    const claim = claimStatement(store.db, { workerId: 'whw_test', now: NOW, lease: NOW + 60_000, limit: 1_000, excludeEndpoints: [], postgres: true }).returningAll();
    const fill = `insert into webhook_deliveries (id, event_id, endpoint_id, integration_id, mode, event_type, status, attempts, next_attempt_at, created_at, updated_at)
      select 'whd_' || g, 'evt_' || g, 'we_1', 'int_1', 'test', 'verification.created', 'pending', 0, g, g, g from generate_series(1, 2000) g`;
    expect(await loopsAfterGrowth('webhook_claim', claim, fill)).toEqual([1]);
  });

  it('the outbox worker claim', async () => {
    const claim = claimDueQuery(store.db, 'wrk_test', NOW, 60_000, 1_000, true);
    const fill = `insert into outbox (id, kind, integration_id, mode, payload_json, status, attempts, available_at, created_at)
      select 'obx_' || g, 'message', 'int_1', 'test', '{}', 'pending', 0, g, g from generate_series(1, 2000) g`;
    expect(await loopsAfterGrowth('outbox_claim', claim, fill)).toEqual([1]);
  });

  it('the expiry sweep', async () => {
    const sweep = expireDueQuery(store.db, NOW, 1_000, true);
    const fill = `insert into verifications (id, integration_id, mode, identifier, identifier_kind, country, channel, action, locale, status, code_hash, code_length, attempts, max_attempts, sends, expires_at, last_sent_at, created_at, updated_at, canonical_identifier)
      select 'ver_' || g, 'int_1', 'test', '+5511' || g, 'phone', 'BR', 'sms', 'login', 'en', 'pending', 'h', 6, 0, 5, 1, g, g, g, g, '+5511' || g from generate_series(1, 2000) g`;
    expect(await loopsAfterGrowth('expiry_sweep', sweep, fill)).toEqual([1]);
  });
});
