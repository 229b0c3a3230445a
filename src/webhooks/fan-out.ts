/**
 * The hook `insertEvent` calls in the transaction that records an event: when the integration and
 * mode have a webhook endpoint that wants the type, the delivery is written in that same
 * transaction (so it is committed exactly when the event is, and survives any crash after).
 *
 * The send path records events too (`verification.delivered` on every sandbox capture), so whether
 * an integration has an endpoint at all is cached per process for `cacheMs`: an integration without
 * a webhook costs a map look-up, not a statement. A process that changes an endpoint forgets its
 * entry at once and tells the others (the `webhooks` notice); a process that missed the notice
 * trusts a stale "no endpoint" for at most `cacheMs` (OTPGATE_WEBHOOK_ENDPOINT_CACHE_MS).
 */
import { fanOutEvent as fanOutQuery, hasEndpoint } from '../store/webhooks-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Mode } from '../store/tables.js';

const MAX_ENTRIES = 50_000;

interface Presence {
  has: boolean;
  until: number;
}

const presence = new Map<string, Presence>();
let cacheMs = 1_000;
const listeners = new Set<() => void>();

/** Sets the cache's lifetime (the process's configuration). */
export function configureFanOut(options: { cacheMs: number }): void {
  cacheMs = options.cacheMs;
  presence.clear();
}

/** Calls `listener` whenever an event got a delivery (the dispatcher's wake-up); returns the undo. */
export function onFanOut(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Forgets what is known about one integration and mode (its endpoint changed here), or everything. */
export function forgetEndpoints(scope?: { integrationId: string; mode: Mode }): void {
  if (scope) presence.delete(`${scope.integrationId}:${scope.mode}`);
  else presence.clear();
}

/** Writes the event's webhook delivery, if any, in the caller's transaction. */
export async function fanOut(db: QueryRunner, event: { id: string; integration_id: string; mode: Mode; type: string; now: number }): Promise<void> {
  const key = `${event.integration_id}:${event.mode}`;
  const t = performance.now();
  let known = presence.get(key);
  if (!known || known.until <= t) {
    known = { has: await hasEndpoint(db, { integrationId: event.integration_id, mode: event.mode }), until: t + cacheMs };
    if (presence.size >= MAX_ENTRIES) presence.clear();
    if (cacheMs > 0) presence.set(key, known);
  }
  if (!known.has) return;
  await fanOutQuery(db, event);
  // Before the commit: an early wake finds nothing and the dispatcher's poll picks it up.
  for (const listener of listeners) listener();
}
