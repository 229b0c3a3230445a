/**
 * The Redis limits' combined steps (src/limits/redis-limits.ts): one script each for the lock check
 * and a count, a failure reservation and a right code's settlement, on the same keys as
 * rate-limiter-flexible's methods, which the rest of the limits still use; and the fall back to those
 * methods (with Postgres as their insurance) when Redis is not there.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { RedisLimits } from '../../src/limits/redis-limits.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, NEEDS_REDIS, POSTGRES_URL, REDIS_URL } from '../helpers/stores.js';

const skip = !POSTGRES_URL ? NEEDS_POSTGRES : !REDIS_URL ? NEEDS_REDIS : null;
const rule = { maxFailures: 3, windowS: 600, durationS: 900 };

describe.skipIf(skip !== null)(`Redis limits: one script per step${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let store: Store;
  let pool: pg.Pool;
  let redis: Redis;
  let limits: RedisLimits;
  let drop: () => Promise<void>;
  let commands: string[] = [];
  const key = (): string => `test:${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    drop = db.drop;
    store = openStore(db.url);
    await migrateToLatest(store.db);
    pool = store.pgPool as pg.Pool;
    redis = new Redis(REDIS_URL as string);
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      commands.push(command.name);
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof redis.sendCommand;
    await redis.ping();
    limits = new RedisLimits(redis, pool);
  });
  afterAll(async () => {
    redis?.disconnect();
    await store?.close();
    await drop?.();
  });

  async function counted<T>(work: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
    commands = [];
    const result = await work();
    return { result, commands };
  }

  it('admit: one command; counts up to the limit, then refuses with the time left; a separate counter per name', async () => {
    const k = key();
    for (let i = 0; i < 2; i++) {
      const { result, commands } = await counted(() => limits.admit('send', k, 2, 60));
      expect(result).toEqual({ ok: true });
      expect(commands).toHaveLength(1);
    }
    const refused = await limits.admit('send', k, 2, 60);
    expect(refused.ok).toBe(false);
    if (!refused.ok && !refused.locked) expect(refused.msBeforeNext).toBeGreaterThan(55_000);
    else throw new Error('expected a refusal by the limit');
    expect(await limits.admit('check', k, 2, 60)).toEqual({ ok: true });
    // The library's own method reads the same counter.
    expect((await limits.consume('send', k, 5, 60)).ok).toBe(true);
    expect(await redis.get(`otpg_send:${k}`)).toBe('4');
  });

  it('admit: refused while the key is locked, without counting', async () => {
    const k = key();
    await limits.lock(k, rule); // the library's block
    const refused = await limits.admit('check', k, 5, 60);
    expect(refused).toMatchObject({ ok: false, locked: true });
    if (!refused.ok && refused.locked) expect(refused.msLeft).toBeGreaterThan(890_000);
    expect(await redis.get(`otpg_check:${k}`)).toBeNull();
    expect((await limits.lockStatus(k)).locked).toBe(true);
  });

  it('admitCheck: one command; admits the check and reserves a failure, or refuses without reserving', async () => {
    const k = key();
    const first = await counted(() => limits.admitCheck(k, 2, 60, rule));
    expect(first.commands).toHaveLength(1);
    expect(first.result).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
    expect(await limits.admitCheck(k, 2, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
    // Over the check limit: refused, and no failure reserved for it.
    const refused = await limits.admitCheck(k, 2, 60, rule);
    expect(refused.admission).toMatchObject({ ok: false, locked: false });
    expect(refused.reservation).toBeNull();
    expect(await redis.get(`otpg_fail:${k}`)).toBe('2');
    // Admitted with the budget spent: admitted, not reserved.
    const spent = key();
    for (let i = 0; i < 3; i++) await limits.reserveFailure(spent, rule);
    expect(await limits.admitCheck(spent, 5, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: false } });
    expect(await redis.get(`otpg_fail:${spent}`)).toBe('3');
    // Locked: refused with the time left.
    await limits.lock(spent, rule);
    expect((await limits.admitCheck(spent, 5, 60, rule)).admission).toMatchObject({ ok: false, locked: true });
  });

  it('reserveFailure: one command; the last of max_failures says so; a spent budget is refused without counting again', async () => {
    const k = key();
    const reservations = [];
    for (let i = 0; i < 3; i++) {
      const { result, commands } = await counted(() => limits.reserveFailure(k, rule));
      expect(commands).toHaveLength(1);
      reservations.push(result);
    }
    expect(reservations).toEqual([{ ok: true, last: false }, { ok: true, last: false }, { ok: true, last: true }]);
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
    expect(await redis.get(`otpg_fail:${k}`)).toBe('3');
    expect(await limits.failureRoom(k, rule)).toBe(false);
  });

  it('settleReservation: one command; approved resets the budget, otherwise gives one back, never below zero', async () => {
    const k = key();
    await limits.reserveFailure(k, rule);
    await limits.reserveFailure(k, rule);
    const { commands } = await counted(() => limits.settleReservation(k, rule, false));
    expect(commands).toHaveLength(1);
    expect(await redis.get(`otpg_fail:${k}`)).toBe('1');
    await limits.settleReservation(k, rule, true);
    expect(await redis.get(`otpg_fail:${k}`)).toBeNull();
    // A give-back landing after the approving check's reset: nothing to give back (the budget stays max_failures).
    await limits.settleReservation(k, rule, false);
    expect(await redis.get(`otpg_fail:${k}`)).toBeNull();
    for (let i = 0; i < 3; i++) expect((await limits.reserveFailure(k, rule)).ok).toBe(true);
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
  });

  it('without Redis: the same steps go on through the library and its Postgres insurance', async () => {
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on('error', () => {}); // refused connections: the point of the test
    const offline = new RedisLimits(down, pool);
    try {
      const k = key();
      expect(await offline.admit('send', k, 1, 60)).toEqual({ ok: true });
      expect(await offline.admit('send', k, 1, 60)).toMatchObject({ ok: false, locked: false });
      expect(await offline.reserveFailure(k, rule)).toEqual({ ok: true, last: false });
      expect(await offline.admitCheck(k, 5, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
      await offline.settleReservation(k, rule, true);
      const { rows } = await pool.query<{ points: number }>('select points from rate_limits where key = $1', [`otpg_send:${k}`]);
      expect(rows).toEqual([{ points: 2 }]);
    } finally {
      down.disconnect();
    }
  });
});
