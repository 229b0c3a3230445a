import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { SessionRow } from '../store/sessions-repo.js';
import { ProblemError, problem } from '../domain/errors.js';
import type { SessionCache } from './session-cache.js';

const PREFIX = 'otpg:session:';

/**
 * Sessions cached in Redis, shared by every process: a revocation in one process deletes the entry
 * for all. Redis errors never fail a request: the look-up falls through to the database.
 */
export class RedisSessionCache implements SessionCache {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(tokenHash: string): Promise<SessionRow | undefined> {
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

  /** A revocation must reach every process: if Redis cannot take it, the caller answers 503 and the client retries. */
  async delete(tokenHash: string): Promise<void> {
    try {
      await this.redis.del(PREFIX + tokenHash);
    } catch (err) {
      this.logger.error({ err }, 'session cache: could not drop a revoked session');
      throw new ProblemError(problem('unavailable', 'The session was revoked but the shared cache could not be updated; retry.', { retry_after: 1 }));
    }
  }
}

/** No cache: every look-up is one indexed read (Postgres without Redis, where a per-process cache could miss a revocation). */
export const noSessionCache: SessionCache = {
  get: async () => undefined,
  set: async () => {},
  delete: async () => {},
};
