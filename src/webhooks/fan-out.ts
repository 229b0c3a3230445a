/**
 * The hook `insertEvent` calls in the transaction that records an event: when the integration and
 * mode have a webhook endpoint that wants the type, the delivery is written in that same
 * transaction (so it is committed exactly when the event is, and survives any crash after).
 *
 * The send path records events too (two per test-mode send), so what an integration's endpoint is
 * (its id, whether it is active, the types it wants; or that there is none) is cached per process
 * for `cacheMs` and the delivery is one plain INSERT. A process that changes an endpoint forgets
 * its entry at once and tells the others (the `webhooks` notice); a process that missed the notice
 * trusts what it read for at most `cacheMs` (OTPGATE_WEBHOOK_ENDPOINT_CACHE_MS). What a stale entry
 * can cause is bounded and repaired: a delivery written `pending` for an endpoint paused meanwhile
 * is held by the dispatcher when it finds the endpoint inactive; one written `held` for an endpoint
 * resumed meanwhile is released by the dispatcher's periodic look for held deliveries of active
 * endpoints; one for an endpoint deleted meanwhile is dropped when the dispatcher finds no endpoint.
 */
import { decodeSelection } from './event-types.js';
import { findFanOutEndpoint, insertClaimedDelivery, insertDelivery, type EventRow, type WebhookDeliveryRow } from '../store/webhooks-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Mode } from '../store/tables.js';

/**
 * A dispatcher of this process that takes fresh deliveries straight from the transactions that wrote
 * them: on the embedded store (one process, commit hooks on its group commit) and on Postgres for a
 * pipelined transaction (the send's and the check's, the outbox worker's records), whose COMMIT it
 * waits for. The delivery is written already claimed by it and, once committed, handed over with its
 * event: no claim query and no read of the event. Rolled back, it is never handed over. A crash
 * before the dispatcher sends it leaves a claim that lapses after its lease, as any claim does, and
 * the delivery is then sent by whichever dispatcher claims it.
 */
export interface WebhookHandoff {
  /** A claim for a delivery about to be written to `endpointId`, or null (the dispatcher has no room): then it is written unclaimed. */
  claim(endpointId: string): { workerId: string; until: number } | null;
  /**
   * How to run work after the COMMIT of what `db` writes (never when it is rolled back), or null
   * when there is no such hook for it (a Postgres transaction of Kysely's): the delivery is then
   * written unclaimed.
   */
  commitHook(db: QueryRunner): ((work: () => void) => void) | null;
  /** A committed delivery written with `claim`'s claim, and its event. */
  take(delivery: WebhookDeliveryRow, event: EventRow): void;
}

const MAX_ENTRIES = 50_000;

interface Presence {
  endpoint: { id: string; active: boolean; wants: (type: string) => boolean } | null;
  until: number;
}

const presence = new Map<string, Presence>();
let cacheMs = 1_000;
const listeners = new Set<(endpointId: string) => void>();

/** Sets the cache's lifetime (the process's configuration). */
export function configureFanOut(options: { cacheMs: number }): void {
  cacheMs = options.cacheMs;
  presence.clear();
}

/** Calls `listener` with the endpoint whenever an event got a delivery (the dispatcher's wake-up); returns the undo. */
export function onFanOut(listener: (endpointId: string) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Forgets what is known about one integration and mode (its endpoint changed here), or everything. */
export function forgetEndpoints(scope?: { integrationId: string; mode: Mode }): void {
  if (scope) presence.delete(`${scope.integrationId}:${scope.mode}`);
  else presence.clear();
}

/** Writes the event's webhook delivery, if any, in the caller's transaction (claimed and handed over when `handoff` has room). */
export async function fanOut(
  db: QueryRunner,
  event: { id: string; integration_id: string; mode: Mode; type: string; now: number; data_json: string },
  handoff?: WebhookHandoff,
): Promise<void> {
  const key = `${event.integration_id}:${event.mode}`;
  const t = performance.now();
  let known = presence.get(key);
  if (!known || known.until <= t) {
    const row = await findFanOutEndpoint(db, { integrationId: event.integration_id, mode: event.mode });
    known = { endpoint: row ? { id: row.id, active: row.is_active === 1, wants: wantsFor(row.events_json) } : null, until: t + cacheMs };
    if (presence.size >= MAX_ENTRIES) presence.clear();
    if (cacheMs > 0) presence.set(key, known);
  }
  const endpoint = known.endpoint;
  if (!endpoint || !endpoint.wants(event.type)) return;
  const afterCommit = endpoint.active && handoff ? handoff.commitHook(db) : null;
  const claim = afterCommit && handoff ? handoff.claim(endpoint.id) : null;
  if (claim && afterCommit && handoff) {
    const delivery = await insertClaimedDelivery(db, endpoint.id, event, claim);
    if (delivery) {
      const stored: EventRow = { id: event.id, integration_id: event.integration_id, mode: event.mode, type: event.type, data_json: event.data_json, created_at: event.now };
      afterCommit(() => handoff.take(delivery, stored));
    }
    return;
  }
  await insertDelivery(db, endpoint, event);
  // Before the commit: an early wake finds nothing and the dispatcher's poll picks it up.
  for (const listener of listeners) listener(endpoint.id);
}

function wantsFor(eventsJson: string): (type: string) => boolean {
  const selection = decodeSelection(eventsJson);
  if (selection === '*') return () => true;
  const wanted = new Set<string>(selection);
  return (type) => wanted.has(type);
}
