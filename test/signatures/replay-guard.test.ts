import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryReplayGuard, RedisReplayGuard, StoreReplayGuard, type ReplayGuard } from '../../src/limits/replay-guard.js';
import { clock, logger, rt, TTL, uniqueKey, useReplayStore } from './replay-fixture.js';
import { onRealRedis, useRealRedis, REDIS_URL, TEST_STORE } from '../helpers/stores.js';

useReplayStore();

/** Rows of `signature_replays` already expired at the clock's time. */
async function expiredRows(): Promise<number> {
  const db = rt.store.db.withTables<{ signature_replays: { key: string; expires_at: number } }>();
  const row = await db
    .selectFrom('signature_replays')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('expires_at', '<=', clock.now())
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** What every ReplayGuard promises. */
function behavesAsReplayGuard(name: string, make: () => ReplayGuard): void {
  describe(name, () => {
    it('answers true once per key within the ttl, and again after it', async () => {
      const guard = make();
      const key = uniqueKey();
      expect(await guard.firstSeen(key, TTL)).toBe(true);
      expect(await guard.firstSeen(key, TTL)).toBe(false);
      expect(await guard.firstSeen(uniqueKey(), TTL)).toBe(true);
      clock.advance(TTL - 1);
      expect(await guard.firstSeen(key, TTL)).toBe(false);
    });

    it('lets exactly one of many concurrent callers through', async () => {
      const guard = make();
      const key = uniqueKey();
      const answers = await Promise.all(Array.from({ length: 25 }, () => guard.firstSeen(key, TTL)));
      expect(answers.filter(Boolean)).toHaveLength(1);
    });
  });
}

behavesAsReplayGuard('MemoryReplayGuard', () => new MemoryReplayGuard(clock));
behavesAsReplayGuard(`StoreReplayGuard (${TEST_STORE})`, () => new StoreReplayGuard(rt.store.db, clock));

describe(`StoreReplayGuard housekeeping (${TEST_STORE})`, () => {
  it('revives an expired key and purges expired rows now and then', async () => {
    const guard = new StoreReplayGuard(rt.store.db, clock, 60_000);
    const key = uniqueKey();
    expect(await guard.firstSeen(key, 1_000)).toBe(true);
    clock.advance(1_000);
    expect(await guard.firstSeen(key, 1_000)).toBe(true); // expired: first seen again
    expect(await guard.firstSeen(key, 1_000)).toBe(false);

    for (let i = 0; i < 5; i++) await guard.firstSeen(uniqueKey(), 1_000);
    clock.advance(61_000);
    expect(await expiredRows()).toBeGreaterThanOrEqual(6);
    await guard.firstSeen(uniqueKey(), TTL); // a minute later: purges on the way
    expect(await expiredRows()).toBe(0);
  });
});

/** A Redis stand-in that can be switched off (only `SET key value PX ttl NX` is used). */
class SwitchableRedis {
  down = false;
  readonly keys = new Map<string, number>();
  async set(key: string, _value: string, _px: 'PX', ttl: number, _nx: 'NX'): Promise<'OK' | null> {
    if (this.down) throw new Error('Connection is closed.');
    const until = this.keys.get(key);
    if (until !== undefined && until > clock.now()) return null;
    this.keys.set(key, clock.now() + ttl);
    return 'OK';
  }
}

describe('RedisReplayGuard', () => {
  it('falls back to the store while Redis fails, and still refuses those keys once Redis is back', async () => {
    const redis = new SwitchableRedis();
    const guard = new RedisReplayGuard(redis as unknown as Redis, new StoreReplayGuard(rt.store.db, clock), clock, logger);
    const before = uniqueKey();
    expect(await guard.firstSeen(before, TTL)).toBe(true);
    expect(await guard.firstSeen(before, TTL)).toBe(false);

    redis.down = true;
    const during = uniqueKey();
    expect(await guard.firstSeen(during, TTL)).toBe(true); // answered by the store
    expect(await guard.firstSeen(during, TTL)).toBe(false);

    redis.down = false;
    expect(redis.keys.has(`otpgate:sigreplay:${during}`)).toBe(false);
    expect(await guard.firstSeen(during, TTL)).toBe(false); // Redis had not seen it; the store had
    const after = uniqueKey();
    expect(await guard.firstSeen(after, TTL)).toBe(true);
    expect(await guard.firstSeen(after, TTL)).toBe(false);
  });

  it('falls back when the Redis server cannot be reached at all', async () => {
    const unreachable = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    unreachable.on('error', () => {});
    try {
      const guard = new RedisReplayGuard(unreachable, new StoreReplayGuard(rt.store.db, clock), clock, logger);
      const key = uniqueKey();
      expect(await guard.firstSeen(key, TTL)).toBe(true);
      expect(await guard.firstSeen(key, TTL)).toBe(false);
    } finally {
      unreachable.disconnect();
    }
  });

  describe.skipIf(!REDIS_URL)(onRealRedis, () => {
    const realRedis = useRealRedis();
    it('uses SET NX PX: once per key, with the ttl', async () => {
      const prefix = `otpgate:test:${randomBytes(4).toString('hex')}:`;
      const guard = new RedisReplayGuard(realRedis(), new MemoryReplayGuard(clock), clock, logger, prefix);
      const key = uniqueKey();
      const answers = await Promise.all(Array.from({ length: 25 }, () => guard.firstSeen(key, TTL)));
      expect(answers.filter(Boolean)).toHaveLength(1);
      const pttl = await realRedis().pttl(prefix + key);
      expect(pttl).toBeGreaterThan(TTL - 5_000);
      expect(pttl).toBeLessThanOrEqual(TTL);
      await realRedis().del(prefix + key);
    });
  });
});
