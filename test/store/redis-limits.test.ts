/**
 * The Redis limits' combined steps (src/limits/redis-limits.ts): one script each for the lock check
 * and a count, a failure reservation and a right code's settlement, on the same keys as
 * rate-limiter-flexible's methods, which the rest of the limits still use; and the fall back to those
 * methods (with Postgres as their insurance) when Redis is not there.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { RedisLimits } from '../../src/limits/redis-limits.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, NEEDS_REDIS, POSTGRES_URL, REDIS_URL } from '../helpers/stores.js';
import { limitKey, limitStepCases, rule } from './limit-steps.js';

const skip = !POSTGRES_URL ? NEEDS_POSTGRES : !REDIS_URL ? NEEDS_REDIS : null;

describe.skipIf(skip !== null)(`Redis limits: one script per step${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let store: Store;
  let pool: pg.Pool;
  let redis: Redis;
  let limits: RedisLimits;
  let drop: () => Promise<void>;
  const commands: string[] = [];

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

  limitStepCases(
    () => ({
      limits,
      stored: async (stored) => {
        const value = await redis.get(stored);
        return value === null ? null : Number(value);
      },
      sent: () => commands,
    }),
    'command',
  );

  it('without Redis: the same steps go on through the library and its Postgres insurance', async () => {
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on('error', () => {}); // refused connections: the point of the test
    const offline = new RedisLimits(down, pool);
    try {
      const k = limitKey();
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
