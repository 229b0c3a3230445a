import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { claimReplayKey, purgeExpiredReplays } from '../store/signature-replays-repo.js';
import type { Db } from '../store/tables.js';

/**
 * Remembers keys for a while so a request signature is accepted once (Signed requests).
 * `firstSeen` records the key for `ttlMs` and answers true only the first time within that span,
 * across every process that shares the backing store.
 */
export interface ReplayGuard {
  firstSeen(key: string, ttlMs: number): Promise<boolean>;
}

/** The in-memory twin for unit tests (one process only). */
export class MemoryReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(private readonly clock: Clock) {}

  async firstSeen(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.seen.set(key, now + ttlMs);
    return true;
  }
}

/**
 * Over the `signature_replays` table (SQLite or Postgres): one atomic insert-or-nothing per key.
 * Expired rows are purged at most once per `purgeEveryMs`, on the way of a call.
 */
export class StoreReplayGuard implements ReplayGuard {
  private nextPurgeAt = 0;
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly purgeEveryMs = 60_000,
  ) {}

  async firstSeen(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    if (now >= this.nextPurgeAt) {
      this.nextPurgeAt = now + this.purgeEveryMs;
      // Housekeeping only: a failure here is retried next time; the claim below reports a real outage.
      await purgeExpiredReplays(this.db, now).catch(() => 0);
    }
    return claimReplayKey(this.db, key, now + ttlMs, now);
  }
}

/**
 * `SET key 1 NX PX ttl` in Redis; while Redis errors, the store guard answers instead. Keys recorded
 * in the store during an outage are not in Redis, so for one ttl after the last Redis error every
 * key is also claimed in the store: a signature accepted during the outage cannot be replayed once
 * Redis is back.
 */
export class RedisReplayGuard implements ReplayGuard {
  private degradedUntil = 0;
  private lastWarn = 0;
  constructor(
    private readonly redis: Redis,
    private readonly fallback: ReplayGuard,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly prefix = 'otpgate:sigreplay:',
  ) {}

  async firstSeen(key: string, ttlMs: number): Promise<boolean> {
    let fresh: boolean;
    try {
      fresh = (await this.redis.set(this.prefix + key, '1', 'PX', ttlMs, 'NX')) === 'OK';
    } catch (err) {
      const now = this.clock.now();
      this.degradedUntil = now + ttlMs;
      if (now - this.lastWarn > 10_000) {
        this.lastWarn = now;
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'replay guard: redis failed; using the database');
      }
      return this.fallback.firstSeen(key, ttlMs);
    }
    if (!fresh) return false;
    if (this.clock.now() < this.degradedUntil) return this.fallback.firstSeen(key, ttlMs);
    return true;
  }
}
