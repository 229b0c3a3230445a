import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { claimReplayKey, purgeExpiredReplays, type SignatureReplaysTable } from '../store/signature-replays-repo.js';
import type { Db } from '../store/tables.js';

/**
 * Remembers keys for a while so a request signature is accepted once (Signed requests).
 * `firstSeen` records the key for `ttlMs` and answers true only the first time within that span,
 * across every process that shares the backing store.
 */
export interface ReplayGuard {
  firstSeen(key: string, ttlMs: number): Promise<boolean>;
}

/** A guard whose records can also be looked up without claiming (the fallback behind Redis). */
export interface ReplayRecords extends ReplayGuard {
  /** True while `key` is recorded (not expired). A read: records nothing. */
  recorded?(key: string): Promise<boolean>;
}

/** The in-memory twin for unit tests (one process only). */
export class MemoryReplayGuard implements ReplayRecords {
  private readonly seen = new Map<string, number>();
  constructor(private readonly clock: Clock) {}

  async recorded(key: string): Promise<boolean> {
    const until = this.seen.get(key);
    return until !== undefined && until > this.clock.now();
  }

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
export class StoreReplayGuard implements ReplayRecords {
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

  /** One primary-key read. */
  async recorded(key: string): Promise<boolean> {
    const row = await this.db
      .withTables<{ signature_replays: SignatureReplaysTable }>()
      .selectFrom('signature_replays')
      .select('key')
      .where('key', '=', key)
      .where('expires_at', '>', this.clock.now())
      .executeTakeFirst();
    return row !== undefined;
  }
}

/**
 * `SET key 1 NX PX ttl` in Redis; while Redis errors, the store guard answers instead. A key Redis
 * has not seen may still have been accepted through the store while Redis failed for some process
 * (this one or another: an outage or a partition can hit one process only), so before a key new to
 * Redis is accepted the store is read for it (one primary-key read): a signature accepted during an
 * outage cannot be replayed through any process once Redis answers again. If that read fails the
 * call fails (the guard cannot tell), as the store guard does during a database outage.
 */
export class RedisReplayGuard implements ReplayGuard {
  private lastWarn = 0;
  constructor(
    private readonly redis: Redis,
    private readonly fallback: ReplayRecords,
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
      if (now - this.lastWarn > 10_000) {
        this.lastWarn = now;
        this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'replay guard: redis failed; using the database');
      }
      return this.fallback.firstSeen(key, ttlMs);
    }
    if (!fresh) return false;
    // Recorded in the store during some process's outage: Redis now holds it too, and it stays refused.
    if (this.fallback.recorded && (await this.fallback.recorded(key))) return false;
    return true;
  }
}
