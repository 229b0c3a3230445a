/**
 * What the operator reads of one integration that integrators read with their own key: the same
 * services, run for a tenant built from the integration (operator routes, src/http/routes/admin/).
 * Also the verification log (search and detail with its events) and the event feed of the
 * console's live view, which integrators have no list of.
 */
import { toIso, type Clock } from '../domain/clock.js';
import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { canonicalIdentifier, parseIdentifier } from '../domain/identifiers.js';
import { findIntegration } from '../store/integrations-repo.js';
import type { Db, Mode } from '../store/tables.js';
import type { ServiceDeps, Tenant } from './context.js';
import { getVerification } from './manage-verification.js';
import { integrationPolicy } from './integrations.js';
import { decodeCursor, toPage, type Page } from './pagination.js';
import type { VerificationView } from './present-verification.js';

/** The tenant an operator acts as: the integration's policy in `mode`, as a key of that mode would. */
export async function operatorTenant(db: Db, integrationId: string, mode: Mode): Promise<Result<Tenant>> {
  const row = await findIntegration(db, integrationId);
  if (!row) return fail(problem('not-found', 'No integration with this id.'));
  return ok({ integrationId: row.id, name: row.name, mode, keyId: 'operator', policy: integrationPolicy(row) });
}

export interface VerificationSearch {
  identifier?: string;
  id?: string;
  status?: string;
  channel?: string;
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

export interface VerificationSummary {
  id: string;
  status: string;
  failure_reason: string | null;
  identifier: string;
  channel: string;
  action: string;
  country: string | null;
  attempts: number;
  sends: number;
  expires_at: string;
  created_at: string;
  updated_at: string;
}

function time(text: string | undefined, field: string, errors: Record<string, string[]>): number | null {
  if (text === undefined || text === '') return null;
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) errors[field] = ['format'];
  return Number.isFinite(ms) ? ms : null;
}

/** Status as stored; a pending verification past its expiry reads as expired (as GET /v1/verifications/{id} shows it). */
function shownStatus(row: { status: string; expires_at: number }, now: number): string {
  return row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status;
}

/** The verifications of a tenant, newest first, filtered; cursor pages. */
export async function searchVerifications(deps: { db: Db; clock: Clock }, tenant: Tenant, query: VerificationSearch): Promise<Result<Page<VerificationSummary>>> {
  const errors: Record<string, string[]> = {};
  const from = time(query.from, 'from', errors);
  const to = time(query.to, 'to', errors);
  let canonical: string | null = null;
  if (query.identifier !== undefined && query.identifier.trim() !== '') {
    const parsed = parseIdentifier(query.identifier);
    if (parsed.ok) canonical = canonicalIdentifier(parsed.identifier.value);
    else errors.identifier = [parsed.error];
  }
  const after = decodeCursor(query.cursor);
  if (after === 'invalid') errors.cursor = ['invalid'];
  if (Object.keys(errors).length > 0 || after === 'invalid') return fail(validationProblem('The search is not valid.', errors));
  const now = deps.clock.now();
  let q = deps.db
    .selectFrom('verifications')
    .select(['id', 'status', 'failure_reason', 'identifier', 'channel', 'action', 'country', 'attempts', 'sends', 'expires_at', 'created_at', 'updated_at'])
    .where('integration_id', '=', tenant.integrationId)
    .where('mode', '=', tenant.mode);
  if (canonical !== null) q = q.where('canonical_identifier', '=', canonical);
  if (query.id) q = q.where('id', '=', query.id);
  if (query.channel) q = q.where('channel', '=', query.channel);
  if (query.status === 'expired') q = q.where((eb) => eb.or([eb('status', '=', 'expired'), eb.and([eb('status', '=', 'pending'), eb('expires_at', '<=', now)])]));
  else if (query.status === 'pending') q = q.where('status', '=', 'pending').where('expires_at', '>', now);
  else if (query.status) q = q.where('status', '=', query.status);
  if (from !== null) q = q.where('created_at', '>=', from);
  if (to !== null) q = q.where('created_at', '<', to);
  if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after.t), eb.and([eb('created_at', '=', after.t), eb('id', '<', after.id)])]));
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit + 1).execute();
  return ok(
    toPage(rows, query.limit, (r) => r.created_at, (r) => ({
      id: r.id,
      status: shownStatus(r, now),
      failure_reason: r.status === 'pending' && r.expires_at <= now ? 'expired' : r.failure_reason,
      identifier: r.identifier,
      channel: r.channel,
      action: r.action,
      country: r.country,
      attempts: r.attempts,
      sends: r.sends,
      expires_at: toIso(r.expires_at),
      created_at: toIso(r.created_at),
      updated_at: toIso(r.updated_at),
    })),
  );
}

export interface EventView {
  id: string;
  type: string;
  created_at: string;
  data: unknown;
}

/** Events recorded about one verification are at most this long after its creation (expiry, late receipts). */
const EVENT_HORIZON_MS = 2 * 86_400_000;

/** One verification as GET /v1/verifications/{id} shows it (the same service), plus the events recorded about it, oldest first. */
export async function verificationDetail(deps: ServiceDeps, tenant: Tenant, id: string): Promise<Result<VerificationView & { events: EventView[] }>> {
  const view = await getVerification(deps, tenant, id);
  if (!view.ok) return view;
  const createdAt = Date.parse(view.value.created_at);
  const events = await deps.store.db
    .selectFrom('events')
    .select(['id', 'type', 'data_json', 'created_at'])
    .where('integration_id', '=', tenant.integrationId)
    .where('mode', '=', tenant.mode)
    .where('created_at', '>=', createdAt)
    .where('created_at', '<=', createdAt + EVENT_HORIZON_MS)
    .where('type', 'like', 'verification.%')
    .where('data_json', 'like', `%"id":"${id}"%`)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .limit(200)
    .execute();
  const mine = events
    .map((e) => ({ id: e.id, type: e.type, created_at: toIso(e.created_at), data: JSON.parse(e.data_json) as { id?: unknown } }))
    .filter((e) => e.data.id === id);
  return ok({ ...view.value, events: mine });
}

/** Events of a tenant recorded at or after `since` (ms), oldest first, for the live view. */
export async function eventsSince(db: Db, tenant: { integrationId: string; mode: Mode }, since: number, limit = 100): Promise<Array<EventView & { at: number }>> {
  const rows = await db
    .selectFrom('events')
    .select(['id', 'type', 'data_json', 'created_at'])
    .where('integration_id', '=', tenant.integrationId)
    .where('mode', '=', tenant.mode)
    .where('created_at', '>=', since)
    .orderBy('created_at', 'asc')
    .orderBy('id', 'asc')
    .limit(limit)
    .execute();
  return rows.map((e) => ({ id: e.id, type: e.type, at: e.created_at, created_at: toIso(e.created_at), data: JSON.parse(e.data_json) as unknown }));
}
