import { Redis } from 'ioredis';
import { coalesceWrites } from './net/coalesce-writes.js';
import type { Logger } from 'pino';
import { sql, type Kysely } from 'kysely';
import type { Config } from './config.js';
import { MemoryCounters, type Counters } from './limits/memory-counters.js';
import { FlexibleLimits, type Limits } from './limits/limits.js';
import { PostgresLimits } from './limits/postgres-limits.js';
import { RedisLimits } from './limits/redis-limits.js';
import { RedisReplayGuard, StoreReplayGuard, type ReplayGuard } from './limits/replay-guard.js';
import { LocalNotifier, RedisNotifier, type Notifier } from './pubsub.js';
import { RedisSessionCache, noSessionCache } from './services/redis-session-cache.js';
import { MemorySessionCache, type SessionCache } from './services/session-cache.js';
import type { Store } from './store/database.js';
import type { Clock } from './domain/clock.js';

export interface Readiness {
  ready: boolean;
  checks: { database: 'ok' | 'down'; redis?: 'ok' | 'down' };
}

/** Where limits, the session cache and cross-process notices live, chosen by the configuration. */
export interface Backends {
  limits: Limits;
  /**
   * Hourly counters of the fraud guard. The embedded store keeps them in memory: it is one process,
   * and a restart losing an hour's heuristic counts costs less than four more writes on every live
   * send. Postgres deployments share them like the limits.
   */
  counters: Counters;
  sessionCache: SessionCache;
  notifier: Notifier;
  /** Signatures already accepted (replay protection of signed requests). */
  replays: ReplayGuard;
  readiness(): Promise<Readiness>;
  close(): Promise<void>;
}

/** The process's Redis connections: `client` for commands, `subscriber` for pub/sub (exported for its test). */
export function redisClient(url: string, logger: Logger, role: 'client' | 'subscriber', connectTimeout: number): Redis {
  // Fail fast while Redis is away (no offline queue): callers fall back instead of waiting.
  const subscriber = role === 'subscriber';
  // The subscriber queues its SUBSCRIBEs until connected; it must skip ioredis's ready check (an INFO,
  // which a connection in subscriber mode refuses, failing the subscription at random).
  // No auto-pipelining: with it, 50 concurrent checks of one code left the lockout budget overcounted
  // (test/routes/lockout-concurrency.test.ts on Postgres + Redis, 2 runs of 3), through
  // rate-limiter-flexible's MULTI and Lua calls.
  const client = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: subscriber, enableReadyCheck: !subscriber, connectTimeout });
  // Instead, the commands of one turn of the event loop leave in one write (each connection, a
  // reconnection's too): a system call per command was the largest cost of a Redis-backed request.
  if (!subscriber) client.on('connect', () => coalesceWrites(client.stream));
  let lastWarn = 0;
  client.on('error', (err: Error) => {
    if (Date.now() - lastWarn > 10_000) logger.warn({ err: err.message, role }, 'redis: connection problem; degrading to the database');
    lastWarn = Date.now();
  });
  return client;
}

/**
 * - SQLite: limits in the same file, sessions cached in memory, notices within the process.
 * - Postgres: limits in Postgres, no session cache (a per-process cache could miss a revocation).
 * - Postgres + Redis: limits in Redis with Postgres as insurance, sessions cached in Redis, notices by pub/sub.
 * Signature replays are kept in the store (`signature_replays`), or in Redis with the store as fallback.
 */
export async function createBackends(config: Config, store: Store, clock: Clock, logger: Logger, override?: { limits?: Limits }): Promise<Backends> {
  const database = async (): Promise<'ok' | 'down'> => {
    try {
      await sql`select 1`.execute(store.db);
      return 'ok';
    } catch {
      return 'down';
    }
  };
  const databaseOnly = async (): Promise<Readiness> => {
    const db = await database();
    return { ready: db === 'ok', checks: { database: db } };
  };
  if (store.sqlite) {
    const limits = override?.limits ?? FlexibleLimits.sqlite(store.sqlite, store.sqliteDriver ?? undefined, { maxKeys: config.limitCountersMaxKeys, flushMs: config.limitCountersFlushMs });
    return {
      limits,
      counters: new MemoryCounters(() => clock.now()),
      sessionCache: new MemorySessionCache(config.sessionCache.maxEntries, config.sessionCache.maxAgeMs, () => clock.now()),
      notifier: new LocalNotifier(),
      replays: new StoreReplayGuard(store.db, clock),
      readiness: databaseOnly,
      // Counts still only in memory reach the file before the store closes.
      close: () => (limits instanceof FlexibleLimits ? limits.flush() : Promise.resolve()),
    };
  }
  const pool = store.pgPool;
  if (!pool) throw new Error('a Postgres store without a pool');
  if (!config.redisUrl) {
    const limits = override?.limits ?? new PostgresLimits(pool, { kysely: store.db as unknown as Kysely<never> });
    return {
      limits,
      counters: limits,
      sessionCache: noSessionCache,
      notifier: new LocalNotifier(),
      replays: new StoreReplayGuard(store.db, clock),
      readiness: databaseOnly,
      close: async () => {},
    };
  }
  const redis = redisClient(config.redisUrl, logger, 'client', config.redisConnectTimeoutMs);
  const subscriber = redisClient(config.redisUrl, logger, 'subscriber', config.redisConnectTimeoutMs);
  const limits = override?.limits ?? new RedisLimits(redis, pool);
  return {
    limits,
    counters: limits,
    sessionCache: new RedisSessionCache(redis, logger, config.sessionCache.maxAgeMs, () => clock.now()),
    notifier: new RedisNotifier(redis, subscriber, logger),
    replays: new RedisReplayGuard(redis, new StoreReplayGuard(store.db, clock), clock, logger),
    readiness: async () => {
      const [db, cache] = await Promise.all([
        database(),
        redis.ping().then(
          () => 'ok' as const,
          () => 'down' as const,
        ),
      ]);
      // Without Redis the service degrades but still answers: only the database decides readiness.
      return { ready: db === 'ok', checks: { database: db, redis: cache } };
    },
    close: async () => {
      subscriber.disconnect();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
