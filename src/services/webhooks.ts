/**
 * The integration's webhook endpoint (one per integration and mode): read, set, remove.
 *
 * PATCH: `url` is required to create and optional after; `events` defaults to `*` on creation;
 * `is_active` defaults to true on creation, and setting it true again resumes a paused or disabled
 * (410) endpoint, releasing what was held. The secret is generated (`whsec_…`) when an endpoint is
 * created without one or when a given one is shorter than 16 characters; a given secret of 16 or
 * more characters is used as is. Whenever the secret changes, the old one keeps signing beside it
 * for 24 h. The answer carries `secret` only when this PATCH set it.
 */
import { toIso } from '../domain/clock.js';
import { seal } from '../domain/codes.js';
import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { base62 } from '../domain/ids.js';
import { checkPublicUrl } from '../net/url-guard.js';
import type { Scope } from '../store/verifications-repo.js';
import { deleteEndpoint, findEndpoint, holdPending, insertEndpoint, releaseHeld, updateEndpoint, type WebhookEndpointRow } from '../store/webhooks-repo.js';
import { ROTATION_OVERLAP_MS } from '../webhooks/endpoint-secrets.js';
import { decodeSelection, encodeSelection, parseSelection, selectionView } from '../webhooks/event-types.js';
import type { WebhookServiceDeps } from './webhooks-context.js';

/** A secret shorter than this is replaced by a generated one. */
export const MIN_SECRET_LENGTH = 16;

export interface WebhookView {
  url: string;
  events: string[];
  is_active: boolean;
  /** Why the endpoint is off when the server turned it off (a 410 answer); null otherwise. */
  disabled_reason: string | null;
  /** Until when the previous secret still signs beside the current one; null when it does not. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export type WebhookWithSecretView = WebhookView & { secret?: string };

export interface WebhookPatch {
  url?: string;
  events?: string[];
  secret?: string;
  is_active?: boolean;
}

function view(row: WebhookEndpointRow, now: number): WebhookView {
  return {
    url: row.url,
    events: selectionView(decodeSelection(row.events_json)),
    is_active: row.is_active === 1,
    disabled_reason: row.disabled_reason,
    previous_secret_expires_at: row.previous_secret_sealed && row.previous_secret_until !== null && row.previous_secret_until > now ? toIso(row.previous_secret_until) : null,
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
  };
}

/** A new Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes. */
export function generateWebhookSecret(deps: Pick<WebhookServiceDeps, 'random'>): string {
  return `whsec_${deps.random.bytes(32).toString('base64')}`;
}

export async function getWebhook(deps: WebhookServiceDeps, scope: Scope): Promise<Result<WebhookView>> {
  const row = await findEndpoint(deps.db, scope);
  return row ? ok(view(row, deps.clock.now())) : fail(problem('not-found', 'No webhook is configured for this integration and mode.'));
}

export async function patchWebhook(deps: WebhookServiceDeps, scope: Scope, patch: WebhookPatch): Promise<Result<WebhookWithSecretView>> {
  let events: string | undefined;
  if (patch.events !== undefined) {
    const parsed = parseSelection(patch.events);
    if (!parsed.ok) return fail(validationProblem(`Unknown event types: ${parsed.unknown.map((e) => JSON.stringify(e)).join(', ')}.`, { events: ['unknown_event_type'] }));
    events = encodeSelection(parsed.selection);
  }
  if (patch.url !== undefined) {
    const check = await checkPublicUrl(patch.url, { allowInsecure: deps.allowInsecure, ...(deps.lookup ? { lookup: deps.lookup } : {}) });
    if (!check.ok) return fail(problem('invalid-webhook-url', check.reason));
  }

  const now = deps.clock.now();
  let shownSecret: string | undefined;
  const write = () => deps.db.transaction().execute(async (trx): Promise<Result<WebhookWithSecretView>> => {
    const current = await findEndpoint(trx, scope);
    const wantsSecret = patch.secret !== undefined || !current;
    if (wantsSecret) shownSecret = patch.secret !== undefined && patch.secret.length >= MIN_SECRET_LENGTH ? patch.secret : generateWebhookSecret(deps);
    const secretSealed = shownSecret === undefined ? undefined : seal(deps.serverSecret, deps.random, shownSecret);

    if (!current) {
      if (patch.url === undefined) return fail(validationProblem('`url` is required to create the webhook.', { url: ['required'] }));
      const row: WebhookEndpointRow = {
        id: `whe_${base62(deps.random, 22)}`,
        integration_id: scope.integrationId,
        mode: scope.mode,
        url: patch.url,
        events_json: events ?? '*',
        is_active: patch.is_active === false ? 0 : 1,
        disabled_reason: null,
        secret_sealed: secretSealed as string,
        previous_secret_sealed: null,
        previous_secret_until: null,
        created_at: now,
        updated_at: now,
      };
      await insertEndpoint(trx, row);
      return ok({ ...view(row, now), secret: shownSecret as string });
    }

    const next: WebhookEndpointRow = { ...current, updated_at: now };
    if (patch.url !== undefined) next.url = patch.url;
    if (events !== undefined) next.events_json = events;
    if (secretSealed !== undefined) {
      // The replaced secret signs beside the new one for 24 h; an older one stops now.
      next.previous_secret_sealed = current.secret_sealed;
      next.previous_secret_until = now + ROTATION_OVERLAP_MS;
      next.secret_sealed = secretSealed;
    }
    if (patch.is_active === true) {
      next.is_active = 1;
      next.disabled_reason = null;
    } else if (patch.is_active === false) {
      next.is_active = 0;
      next.disabled_reason = null;
    }
    const { id: _id, integration_id: _i, mode: _m, created_at: _c, ...changes } = next;
    await updateEndpoint(trx, current.id, changes);
    if (next.is_active === 1 && current.is_active !== 1) await releaseHeld(trx, current.id, now);
    if (next.is_active !== 1 && current.is_active === 1) await holdPending(trx, current.id, now);
    return ok({ ...view(next, now), ...(shownSecret !== undefined ? { secret: shownSecret } : {}) });
  });
  // Two first PATCHes at once: the loser's insert meets the unique (integration, mode) index; run
  // again, it finds the winner's endpoint and updates it.
  const result = await write().catch(() => write());
  if (result.ok) {
    deps.changed(scope);
    deps.poke();
  }
  return result;
}

export async function deleteWebhook(deps: WebhookServiceDeps, scope: Scope): Promise<Result<null>> {
  const removed = await deps.db.transaction().execute(async (trx) => {
    const current = await findEndpoint(trx, scope);
    if (!current) return false;
    await deleteEndpoint(trx, current.id);
    return true;
  });
  if (!removed) return fail(problem('not-found', 'No webhook is configured for this integration and mode.'));
  deps.changed(scope);
  return ok(null);
}
