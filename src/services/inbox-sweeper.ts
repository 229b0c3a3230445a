import type { Logger } from 'pino';
import { startPeriodic } from './periodic.js';
import type { Clock, Random } from '../domain/clock.js';
import type { Store } from '../store/database.js';
import { lapsedInboxes } from '../store/inboxes-repo.js';
import { closeInboxIn } from './inbox-closing.js';

/**
 * Sandbox inboxes whose window ended are marked `expired` (their address and pool number freed, a
 * rental with no code refunded) by this sweeper, or by the first request that reads one. Both use
 * the conditional UPDATE of closeInboxIn, so one expiry is recorded (and refunded) once however many
 * processes notice it.
 */
export interface InboxSweeperDeps {
  store: Store;
  clock: Clock;
  random: Random;
  /** Wakes long-pollers of the expired inboxes, after the commit. */
  announce?: (inboxId: string) => void;
}

export const INBOX_SWEEP_BATCH = 100;

/** Expires every lapsed inbox; returns how many. */
export async function sweepLapsedInboxes(deps: InboxSweeperDeps, batch = INBOX_SWEEP_BATCH): Promise<number> {
  const postgres = deps.store.dialect === 'postgres';
  let total = 0;
  for (;;) {
    const now = deps.clock.now();
    const expired = await deps.store.db.transaction().execute(async (trx) => {
      const ids: string[] = [];
      const rows = await lapsedInboxes(trx, now, batch, postgres);
      for (const row of rows) {
        if (await closeInboxIn(trx, deps, row, 'expired', now)) ids.push(row.id);
      }
      return { ids, seen: rows.length };
    });
    for (const id of expired.ids) deps.announce?.(id);
    total += expired.ids.length;
    if (expired.seen < batch || expired.ids.length === 0) return total;
  }
}

/** Sweeps every `everyMs` until the returned stop is called (it waits for a sweep in progress). */
export function startInboxSweeper(deps: InboxSweeperDeps, logger: Logger, everyMs: number): () => Promise<void> {
  return startPeriodic('inbox sweep', () => sweepLapsedInboxes(deps), logger, everyMs);
}
