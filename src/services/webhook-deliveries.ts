import { toIso } from '../domain/clock.js';
import { fail, ok, problem, type Result } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Scope } from '../store/verifications-repo.js';
import { findDelivery, findEndpoint, listDeliveries, scheduleNow, type WebhookDeliveryRow } from '../store/webhooks-repo.js';
import { signingSecrets } from '../webhooks/endpoint-secrets.js';
import { TEST_EVENT_TYPE } from '../webhooks/event-types.js';
import { sendAttempt } from '../webhooks/send-attempt.js';
import { eventBody } from '../webhooks/signing.js';
import { decodeCursor, toPage, type Page } from './pagination.js';
import type { WebhookServiceDeps } from './webhooks-context.js';

export interface WebhookDeliveryView {
  id: string;
  event_id: string;
  event_type: string;
  /** pending | succeeded | failed | held */
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  /** The receiver's HTTP status at the last attempt; null when it did not answer. */
  response_status: number | null;
  /** How long the last attempt took. */
  response_time_ms: number | null;
  /** The start of the receiver's last answer (at most 1,024 characters). */
  response_body: string | null;
  /** Why the last attempt failed (no answer, blocked address, the status). */
  error: string | null;
  created_at: string;
  updated_at: string;
}

function view(row: WebhookDeliveryRow): WebhookDeliveryView {
  return {
    id: row.id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.next_attempt_at === null ? null : toIso(row.next_attempt_at),
    last_attempt_at: row.last_attempt_at === null ? null : toIso(row.last_attempt_at),
    response_status: row.last_response_status,
    response_time_ms: row.last_response_ms,
    response_body: row.last_response_body,
    error: row.last_error,
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
  };
}

/** Deliveries of the integration and mode, newest first. */
export async function listWebhookDeliveries(deps: WebhookServiceDeps, scope: Scope, query: { limit: number; cursor?: string }): Promise<Result<Page<WebhookDeliveryView>>> {
  const after = decodeCursor(query.cursor);
  if (after === 'invalid') return fail(problem('validation-error', 'The cursor is not valid.', { errors: { cursor: ['invalid'] } }));
  const rows = await listDeliveries(deps.db, scope, query.limit + 1, after ? { created_at: after.t, id: after.id } : null);
  return ok(toPage(rows, query.limit, (r) => r.created_at, view));
}

/**
 * Sends a delivery again as soon as the dispatcher gets to it (whatever its status, even after
 * success), with the same `webhook-id`. 409 `invalid-state` while the endpoint is paused or disabled.
 */
export async function retryWebhookDelivery(deps: WebhookServiceDeps, scope: Scope, id: string): Promise<Result<WebhookDeliveryView>> {
  const delivery = await findDelivery(deps.db, scope, id);
  if (!delivery) return fail(problem('not-found', 'No such webhook delivery.'));
  const endpoint = await findEndpoint(deps.db, scope);
  if (!endpoint || endpoint.id !== delivery.endpoint_id) return fail(problem('not-found', 'No such webhook delivery.'));
  if (endpoint.is_active !== 1) return fail(problem('invalid-state', 'The webhook is paused or disabled; set is_active to true to resume it (held deliveries are then sent).'));
  const now = deps.clock.now();
  await scheduleNow(deps.db, delivery.id, now);
  deps.poke();
  const after = await findDelivery(deps.db, scope, id);
  return after ? ok(view(after)) : fail(problem('not-found', 'No such webhook delivery.'));
}

export interface WebhookTestView {
  /** The id of the `webhook.test` event (its `webhook-id`). */
  event_id: string;
  /** The receiver answered 2xx. */
  delivered: boolean;
  /** The receiver's HTTP status; null when it did not answer. */
  status: number | null;
  response_time_ms: number;
  response_body: string | null;
  error: string | null;
}

/** Sends a signed `webhook.test` event now (paused or not) and answers with how the receiver took it. */
export async function testWebhook(deps: WebhookServiceDeps, scope: Scope): Promise<Result<WebhookTestView>> {
  const endpoint = await findEndpoint(deps.db, scope);
  if (!endpoint) return fail(problem('not-found', 'No webhook is configured for this integration and mode.'));
  const now = deps.clock.now();
  let secrets: string[];
  try {
    secrets = signingSecrets(endpoint, deps.serverSecret, now);
  } catch {
    return fail(problem('invalid-state', 'The webhook secret cannot be read with the current server secret; set a new secret.'));
  }
  const id = newId('evt', deps.random, now);
  const body = eventBody({ id, type: TEST_EVENT_TYPE, created_at: toIso(now), data: { integration_id: scope.integrationId, mode: scope.mode, message: 'A test event from otpgate.' } });
  const outcome = await sendAttempt({ url: endpoint.url, secrets, eventId: id, body, now, timeoutMs: deps.timeoutMs, allowInsecure: deps.allowInsecure, ...(deps.connectLookup ? { lookup: deps.connectLookup } : {}) });
  return ok({ event_id: id, delivered: outcome.ok, status: outcome.status, response_time_ms: outcome.durationMs, response_body: outcome.body, error: outcome.error });
}
