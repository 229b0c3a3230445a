import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RedisReplayGuard, StoreReplayGuard } from '../../src/limits/replay-guard.js';
import { clock, logger, rt, TTL, uniqueKey, useReplayStore } from './replay-fixture.js';
import { onRealRedis, useRealRedis, REDIS_URL, TEST_STORE } from '../helpers/stores.js';

/**
 * The replay record of a signature accepted through the store during one process's Redis outage is
 * seen by every process: another one, with Redis healthy, refuses the same signature.
 */
useReplayStore();

/** A client of a Redis that cannot be reached (every command fails at once). */
function unreachableRedis(): Redis {
  const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  return redis;
}

/** A healthy in-memory Redis stand-in (only `SET key value PX ttl NX` is used). */
class FakeRedis {
  readonly keys = new Map<string, number>();
  async set(key: string, _value: string, _px: 'PX', ttl: number, _nx: 'NX'): Promise<'OK' | null> {
    const until = this.keys.get(key);
    if (until !== undefined && until > clock.now()) return null;
    this.keys.set(key, clock.now() + ttl);
    return 'OK';
  }
}

describe(`RedisReplayGuard across processes (${TEST_STORE})`, () => {
  it('a process with Redis refuses a signature another process accepted through the store during its outage', async () => {
    const down = unreachableRedis();
    try {
      const a = new RedisReplayGuard(down, new StoreReplayGuard(rt.store.db, clock), clock, logger);
      const b = new RedisReplayGuard(new FakeRedis() as unknown as Redis, new StoreReplayGuard(rt.store.db, clock), clock, logger);
      const key = uniqueKey();
      expect(await a.firstSeen(key, TTL)).toBe(true); // through the store: A's Redis is down
      expect(await b.firstSeen(key, TTL)).toBe(false); // B never had an outage of its own
      expect(await b.firstSeen(key, TTL)).toBe(false);
      const other = uniqueKey();
      expect(await b.firstSeen(other, TTL)).toBe(true);
      expect(await b.firstSeen(other, TTL)).toBe(false);
      // Expired store records no longer count.
      const short = uniqueKey();
      expect(await a.firstSeen(short, 1_000)).toBe(true);
      clock.advance(1_000);
      expect(await b.firstSeen(short, 1_000)).toBe(true);
    } finally {
      down.disconnect();
    }
  });

  describe.skipIf(!REDIS_URL)(onRealRedis, () => {
    const realRedis = useRealRedis();

    it('guard B (healthy Redis, same store) refuses what guard A recorded through the store while its Redis was down', async () => {
      const prefix = `otpgate:test:${randomBytes(4).toString('hex')}:`;
      const down = unreachableRedis();
      try {
        const a = new RedisReplayGuard(down, new StoreReplayGuard(rt.store.db, clock), clock, logger, prefix);
        const b = new RedisReplayGuard(realRedis(), new StoreReplayGuard(rt.store.db, clock), clock, logger, prefix);
        const key = uniqueKey();
        expect(await a.firstSeen(key, TTL)).toBe(true);
        expect(await realRedis().exists(prefix + key)).toBe(0); // only the store has it
        expect(await b.firstSeen(key, TTL)).toBe(false);
        const fresh = uniqueKey();
        const answers = await Promise.all(Array.from({ length: 10 }, () => b.firstSeen(fresh, TTL)));
        expect(answers.filter(Boolean)).toHaveLength(1);
        await realRedis().del(prefix + key, prefix + fresh);
      } finally {
        down.disconnect();
      }
    });
  });
});
