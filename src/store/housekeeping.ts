import type { Logger } from 'pino';
import { sql, type ExpressionBuilder } from 'kysely';
import type { Clock } from '../domain/clock.js';
import { base62Time } from '../domain/ids.js';
import { purgeExpiredKeys } from './idempotency-repo.js';
import type { Db, Tables } from './tables.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** How long events and finished webhook deliveries are kept by default (OTPGATE_EVENT_RETENTION_DAYS). */
export const DEFAULT_EVENT_RETENTION_DAYS = 30;

/**
 * Deletes what has outlived its purpose: idempotency keys after 24 h, finished outbox messages after
 * 7 days, and after `eventRetentionDays` webhook deliveries that are over (succeeded or failed), the
 * events no delivery still waits for (a pending or held delivery keeps its event, however old: a
 * paused endpoint gets it on resume), test-mode captured messages, and closed sandbox inboxes
 * (finished, canceled or expired) with their messages.
 */
export async function purgeExpired(db: Db, now: number, eventRetentionDays = DEFAULT_EVENT_RETENTION_DAYS): Promise<void> {
  await purgeExpiredKeys(db, now - DAY_MS);
  await db.deleteFrom('outbox').where('status', 'in', ['done', 'dead']).where('created_at', '<', now - 7 * DAY_MS).execute();
  const before = now - eventRetentionDays * DAY_MS;
  // Ids start with their creation time (domain/ids.ts), and a delivery's id with its event's: the id
  // bound reads only the old part of the primary key, not the whole table, and implies nothing newer
  // than `before` is touched (a row updated before it was created before it).
  const idsBefore = base62Time(before);
  await db
    .deleteFrom('webhook_deliveries')
    .where('id', '<', `whd_${idsBefore}`)
    .where('status', 'in', ['succeeded', 'failed'])
    .where('updated_at', '<', before)
    .execute();
  await db
    .deleteFrom('events')
    .where('id', '<', `evt_${idsBefore}`)
    .where('created_at', '<', before)
    // The event's delivery, if any, has the id derived from the event's (webhooks-repo deliveryIdFor).
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('webhook_deliveries').select('webhook_deliveries.id').where('webhook_deliveries.id', '=', sql<string>`'whd_' || substr(events.id, 5)`))))
    .execute();
  await db.deleteFrom('sandbox_messages').where('id', '<', `msg_${idsBefore}`).where('received_at', '<', before).execute();
  const closedInboxes = (eb: ExpressionBuilder<Tables, 'sandbox_inboxes'>) =>
    eb.and([eb('id', '<', `inb_${idsBefore}`), eb('status', 'in', ['finished', 'canceled', 'expired']), eb('updated_at', '<', before)]);
  await db
    .deleteFrom('sandbox_inbox_messages')
    .where('inbox_id', 'in', (eb) => eb.selectFrom('sandbox_inboxes').select('sandbox_inboxes.id').where(closedInboxes))
    .execute();
  await db.deleteFrom('sandbox_inboxes').where(closedInboxes).execute();
}

/** Runs `purgeExpired` every `everyMs` (default 10 min) until the returned stop is called. */
export function startHousekeeping(db: Db, clock: Clock, logger: Logger, everyMs = 10 * 60 * 1000, eventRetentionDays = DEFAULT_EVENT_RETENTION_DAYS): () => void {
  const timer = setInterval(() => {
    purgeExpired(db, clock.now(), eventRetentionDays).catch((err: unknown) => logger.warn({ err }, 'housekeeping: purge failed'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
