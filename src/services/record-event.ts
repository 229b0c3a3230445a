import type { Random } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { insertEvent } from '../store/events-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Mode } from '../store/tables.js';
import type { WebhookEventType } from '../webhooks/event-types.js';
import type { WebhookHandoff } from '../webhooks/fan-out.js';

/**
 * Recording the events a webhook can subscribe to (API.md "Webhooks"; one list of their types:
 * WEBHOOK_EVENT_TYPES in webhooks/event-types.ts). Each is written to the `events` table in the same
 * transaction as the change that causes it, by the writer that made the change, so an event is
 * stored once however many processes notice it. `data` is the resource as the API shows it and
 * never carries a code, a code hash, a sealed code, a session token or a secret.
 *
 * Where each is recorded:
 * - `verification.created`: request-verification.ts (the new verification, in the send's transaction);
 * - `verification.delivered`, `verification.delivery_failed`: delivery/delivery-outcomes.ts;
 * - `verification.approved`, `verification.failed`, `identifier.locked`: check-outcomes.ts (and
 *   lockout-event.ts, also for a lock check-verification.ts sets after waiting out a crashed holder);
 * - `verification.expired`: expiry-sweeper.ts, or whichever request first moves it out of `pending`
 *   (a check of an expired code: expireNoticed; a new request for the identifier);
 * - `verification.canceled`: manage-verification.ts (cancel) and request-verification.ts (superseded);
 * - `identity.merged`: identity-merge.ts;
 * - `balance.low`: billing/ledger.ts (debit): the debit (a live send, an inbox rental) that takes the
 *   balance from at or above the policy's `billing.low_balance_threshold` to under it, once per
 *   crossing, in the debit's transaction, in the mode of the key that caused it; `data` is the
 *   balance as `GET /v1/balance` shows it (`balance`, `currency`) plus `low_balance_threshold`.
 * - `sandbox.message_received`: services/inbox-landing.ts, in the write that lands a message in a
 *   sandbox inbox (a test-mode send in the outbox worker's batch; SMTP or inbound SMS in its own):
 *   the inbox id, its status, `otp_code` (the latest code: a test-mode inbox shows it anyway) and
 *   the message's id and channel, never its text or subject.
 */
export type EventType = WebhookEventType;

export interface EventScope {
  integrationId: string;
  mode: Mode;
}

/**
 * What recording an event needs: ids, and where this process's webhook dispatcher takes fresh
 * deliveries (`webhookHandoff`, on the embedded store; the deps objects of the services and of the
 * outbox's delivery handlers carry it, and pass it on through the narrower types in between).
 */
export interface EventDeps {
  random: Random;
  webhookHandoff?: WebhookHandoff | undefined;
}

/** Records one event (`evt_…`) in the caller's transaction: a prepared INSERT, no round trip of its own beyond it. */
export async function recordEvent(trx: QueryRunner, deps: EventDeps, scope: EventScope, type: EventType, data: object, now: number): Promise<string> {
  const id = newId('evt', deps.random);
  await insertEvent(trx, { id, integration_id: scope.integrationId, mode: scope.mode, type, data, now }, deps.webhookHandoff);
  return id;
}
