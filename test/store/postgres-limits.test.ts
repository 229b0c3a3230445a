/**
 * The Postgres-only limits' combined steps (src/limits/postgres-limits.ts): one statement each for the
 * lock check and a count, a check's admission with its failure reservation, a reservation alone and a
 * right code's settlement, on the same rows as rate-limiter-flexible's RateLimiterPostgres, which the
 * rest of the limits still use.
 */
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresLimits } from '../../src/limits/postgres-limits.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, POSTGRES_URL } from '../helpers/stores.js';
import { limitKey, limitStepCases } from './limit-steps.js';


describe.skipIf(!POSTGRES_URL)(`Postgres limits: one statement per step${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  let store: Store;
  let pool: pg.Pool;
  let limits: PostgresLimits;
  let drop: () => Promise<void>;
  const statements: string[] = [];
  let now = Date.now();

  beforeAll(async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    drop = db.drop;
    store = openStore(db.url);
    await migrateToLatest(store.db);
    pool = store.pgPool as pg.Pool;
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const config = args[0] as string | { text?: string; name?: string };
      statements.push(typeof config === 'string' ? config : (config.text ?? config.name ?? ''));
      return query(...args);
    };
    limits = new PostgresLimits(pool, { kysely: store.db as unknown as Kysely<never>, now: () => now });
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  const points = async (stored: string): Promise<number | null> => {
    const { rows } = await pool.query<{ points: number; expire: number }>('select points, expire from rate_limits where key = $1', [stored]);
    return rows[0] && rows[0].expire > Date.now() ? rows[0].points : null;
  };

  limitStepCases(
    () => ({
      limits,
      stored: points,
      sent: () => statements,
    }),
    'statement',
  );

  it('admit: a window that ended counts afresh from one', async () => {
    const k = limitKey();
    now = Date.now();
    await limits.admit('send', k, 1, 60);
    expect((await limits.admit('send', k, 1, 60)).ok).toBe(false);
    now = Date.now() + 61_000;
    try {
      expect(await limits.admit('send', k, 1, 60)).toEqual({ ok: true });
      const { rows } = await pool.query<{ points: number; expire: number }>('select points, expire from rate_limits where key = $1', [`otpg_send:${k}`]);
      expect(rows[0]).toMatchObject({ points: 1, expire: now + 60_000 });
    } finally {
      now = Date.now();
    }
  });
});
