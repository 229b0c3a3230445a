/**
 * The Postgres-only limits' combined steps (src/limits/postgres-limits.ts): one statement each for the
 * lock check and a count, a check's admission with its failure reservation, a reservation alone and a
 * right code's settlement, on the same rows as rate-limiter-flexible's RateLimiterPostgres, which the
 * rest of the limits still use.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresLimits } from '../../src/limits/postgres-limits.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, POSTGRES_URL } from '../helpers/stores.js';

const rule = { maxFailures: 3, windowS: 600, durationS: 900 };

describe.skipIf(!POSTGRES_URL)(`Postgres limits: one statement per step${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  let store: Store;
  let pool: pg.Pool;
  let limits: PostgresLimits;
  let drop: () => Promise<void>;
  let statements: string[] = [];
  let now = Date.now();
  const key = (): string => `test:${randomBytes(6).toString('hex')}`;

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
    limits = new PostgresLimits(pool, () => now);
  });
  afterAll(async () => {
    await store?.close();
    await drop?.();
  });

  async function counted<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
    statements = [];
    const result = await work();
    return { result, statements };
  }
  const points = async (stored: string): Promise<number | null> => {
    const { rows } = await pool.query<{ points: number; expire: number }>('select points, expire from rate_limits where key = $1', [stored]);
    return rows[0] && rows[0].expire > Date.now() ? rows[0].points : null;
  };

  it('admit: one statement; counts up to the limit, then refuses with the time left; a separate counter per name', async () => {
    const k = key();
    for (let i = 0; i < 2; i++) {
      const { result, statements } = await counted(() => limits.admit('send', k, 2, 60));
      expect(result).toEqual({ ok: true });
      expect(statements).toHaveLength(1);
    }
    const refused = await limits.admit('send', k, 2, 60);
    expect(refused.ok).toBe(false);
    if (!refused.ok && !refused.locked) expect(refused.msBeforeNext).toBeGreaterThan(55_000);
    else throw new Error('expected a refusal by the limit');
    expect(await limits.admit('check', k, 2, 60)).toEqual({ ok: true });
    // The library's own method reads and writes the same row.
    expect((await limits.consume('send', k, 5, 60)).ok).toBe(true);
    expect(await points(`otpg_send:${k}`)).toBe(4);
  });

  it('admit: a window that ended counts afresh from one', async () => {
    const k = key();
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

  it('admit: refused while the key is locked, without counting', async () => {
    const k = key();
    await limits.lock(k, rule); // the library's block
    const refused = await limits.admit('check', k, 5, 60);
    expect(refused).toMatchObject({ ok: false, locked: true });
    if (!refused.ok && refused.locked) expect(refused.msLeft).toBeGreaterThan(890_000);
    expect(await points(`otpg_check:${k}`)).toBeNull();
    expect((await limits.lockStatus(k)).locked).toBe(true);
  });

  it('admitCheck: one statement; admits the check and reserves a failure, or refuses without reserving', async () => {
    const k = key();
    const first = await counted(() => limits.admitCheck(k, 2, 60, rule));
    expect(first.statements).toHaveLength(1);
    expect(first.result).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
    expect(await limits.admitCheck(k, 2, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
    // Over the check limit: refused, and no failure reserved for it.
    const refused = await limits.admitCheck(k, 2, 60, rule);
    expect(refused.admission).toMatchObject({ ok: false, locked: false });
    expect(refused.reservation).toBeNull();
    expect(await points(`otpg_fail:${k}`)).toBe(2);
    // Admitted with the budget spent: admitted, not reserved, not counted.
    const spent = key();
    for (let i = 0; i < 3; i++) await limits.reserveFailure(spent, rule);
    expect(await limits.admitCheck(spent, 5, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: false } });
    expect(await points(`otpg_fail:${spent}`)).toBe(3);
    // Locked: refused with the time left.
    await limits.lock(spent, rule);
    expect((await limits.admitCheck(spent, 5, 60, rule)).admission).toMatchObject({ ok: false, locked: true });
  });

  it('reserveFailure: one statement; the last of max_failures says so; a spent budget is refused without counting again', async () => {
    const k = key();
    const reservations = [];
    for (let i = 0; i < 3; i++) {
      const { result, statements } = await counted(() => limits.reserveFailure(k, rule));
      expect(statements).toHaveLength(1);
      reservations.push(result);
    }
    expect(reservations).toEqual([{ ok: true, last: false }, { ok: true, last: false }, { ok: true, last: true }]);
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
    expect(await points(`otpg_fail:${k}`)).toBe(3);
    expect(await limits.failureRoom(k, rule)).toBe(false);
  });

  it('reserveFailure: concurrent reservations never share a failure (exactly max_failures succeed)', async () => {
    const k = key();
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => limits.reserveFailure(k, rule)));
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(rule.maxFailures);
    expect(outcomes.filter((outcome) => outcome.ok && outcome.last)).toHaveLength(1);
  });

  it('settleReservation: one statement; approved resets the budget, otherwise gives one back, never below zero', async () => {
    const k = key();
    await limits.reserveFailure(k, rule);
    await limits.reserveFailure(k, rule);
    const { statements } = await counted(() => limits.settleReservation(k, rule, false));
    expect(statements).toHaveLength(1);
    expect(await points(`otpg_fail:${k}`)).toBe(1);
    await limits.settleReservation(k, rule, true);
    expect(await points(`otpg_fail:${k}`)).toBeNull();
    // A give-back landing after the approving check's reset: nothing to give back (the budget stays max_failures).
    await limits.settleReservation(k, rule, false);
    expect(await points(`otpg_fail:${k}`)).toBeNull();
    for (let i = 0; i < 3; i++) expect((await limits.reserveFailure(k, rule)).ok).toBe(true);
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
  });
});
