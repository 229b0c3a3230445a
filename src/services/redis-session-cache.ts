import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SessionRow } from '../store/sessions-repo.js';
import type { SessionCache } from './session-cache.js';

const PREFIX = 'otpg:session:';

/**
 * Sessions cached in Redis, shared by every process: a revocation in one process deletes the entry
 * for all. Redis errors never fail a request: the look-up falls through to the database.
 */
export class RedisSessionCache implements SessionCache {
  /** Revoked sessions whose cache entry could not be dropped yet (Redis away): dropped on reconnect. */
  private readonly pendingDeletes = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    redis.on('ready', () => void this.flush());
  }

  private async flush(): Promise<void> {
    if (this.pendingDeletes.size === 0) return;
    const keys = [...this.pendingDeletes];
    try {
      await this.redis.del(...keys.map((k) => PREFIX + k));
      for (const k of keys) this.pendingDeletes.delete(k);
    } catch {
      // still away; the next reconnect or look-up tries again
    }
  }

  async get(tokenHash: string): Promise<SessionRow | undefined> {
    await this.flush();
    if (this.pendingDeletes.has(tokenHash)) return undefined; // never trust an entry we failed to drop
    try {
      const raw = await this.redis.get(PREFIX + tokenHash);
      return raw ? (JSON.parse(raw) as SessionRow) : undefined;
    } catch (err) {
      this.logger.warn({ err }, 'session cache: redis unavailable, reading the database');
      return undefined;
    }
  }

  async set(tokenHash: string, row: SessionRow): Promise<void> {
    const ttl = Math.min(row.expires_at - this.now(), this.maxAgeMs);
    if (ttl <= 0) return;
    await this.redis.set(PREFIX + tokenHash, JSON.stringify(row), 'PX', ttl).catch((err: unknown) => this.logger.warn({ err }, 'session cache: set failed'));
  }

  /**
   * A revocation must reach every process. The database row is revoked already; if Redis cannot
   * drop the entry now, it is remembered and dropped as soon as Redis answers again (before this
   * process reads the cache), and entries live at most `maxAgeMs` anyway.
   */
  async delete(tokenHash: string): Promise<void> {
    try {
      await this.redis.del(PREFIX + tokenHash);
    } catch (err) {
      this.pendingDeletes.add(tokenHash);
      this.logger.warn({ err }, 'session cache: revoked session queued for removal until Redis is back');
    }
  }
}

/** No cache: every look-up is one indexed read (Postgres without Redis, where a per-process cache could miss a revocation). */
export const noSessionCache: SessionCache = {
  get: async () => undefined,
  set: async () => {},
  delete: async () => {},
};
