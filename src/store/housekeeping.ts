import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { purgeExpiredKeys } from './idempotency-repo.js';
import type { Db } from './tables.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Deletes what has outlived its purpose: idempotency keys after 24 h, finished outbox messages after 7 days. */
export async function purgeExpired(db: Db, now: number): Promise<void> {
  await purgeExpiredKeys(db, now - DAY_MS);
  await db.deleteFrom('outbox').where('status', 'in', ['done', 'dead']).where('created_at', '<', now - 7 * DAY_MS).execute();
}

/** Runs `purgeExpired` every `everyMs` (default 10 min) until the returned stop is called. */
export function startHousekeeping(db: Db, clock: Clock, logger: Logger, everyMs = 10 * 60 * 1000): () => void {
  const timer = setInterval(() => {
    purgeExpired(db, clock.now()).catch((err: unknown) => logger.warn({ err }, 'housekeeping: purge failed'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
