import { sql, type ExpressionBuilder } from 'kysely';
import { prepared, slot, type QueryRunner } from './prepared.js';
import type { EventsTable, Executor, Mode, Tables, WebhookDeliveriesTable, WebhookEndpointsTable } from './tables.js';
import type { Scope } from './verifications-repo.js';

export type WebhookEndpointRow = WebhookEndpointsTable;
export type WebhookDeliveryRow = WebhookDeliveriesTable;
export type EventRow = EventsTable;

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

export async function findEndpoint(db: Executor, scope: Scope): Promise<WebhookEndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('integration_id', '=', scope.integrationId).where('mode', '=', scope.mode).executeTakeFirst();
}

export async function insertEndpoint(db: Executor, row: WebhookEndpointRow): Promise<void> {
  await db.insertInto('webhook_endpoints').values(row).execute();
}

export async function updateEndpoint(db: Executor, id: string, patch: Partial<Omit<WebhookEndpointRow, 'id' | 'integration_id' | 'mode' | 'created_at'>>): Promise<void> {
  await db.updateTable('webhook_endpoints').set(patch).where('id', '=', id).execute();
}

/** Removes the endpoint and every delivery made for it. */
export async function deleteEndpoint(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
  await db.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
}

/** Held deliveries of a resumed endpoint become due now. */
export async function releaseHeld(db: Executor, endpointId: string, now: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: now, updated_at: now })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'held')
    .execute();
}

/** Pending deliveries of a paused or disabled endpoint are held (those in flight are recorded by their attempt). */
export async function holdPending(db: Executor, endpointId: string, now: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'held', next_attempt_at: null, updated_at: now })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', 'pending')
    .where('locked_by', 'is', null)
    .execute();
}

// ---------------------------------------------------------------------------------------------
// Fan-out (runs inside the transaction that records an event: prepared statements only, so it
// also runs in the embedded store's direct transactions)
// ---------------------------------------------------------------------------------------------

const endpointPresenceQuery = prepared<{ integration_id: string; mode: Mode }, { id: string }>((db) =>
  db
    .selectFrom('webhook_endpoints')
    .select('id')
    .where('integration_id', '=', slot<string>('integration_id'))
    .where('mode', '=', slot<Mode>('mode'))
    .limit(1),
);

/** Whether the integration and mode have a webhook endpoint (active or not). */
export async function hasEndpoint(db: QueryRunner, scope: Scope): Promise<boolean> {
  const result = await endpointPresenceQuery(db, { integration_id: scope.integrationId, mode: scope.mode });
  return result.rows.length > 0;
}

interface FanOutArgs {
  id: string;
  event_id: string;
  event_type: string;
  /** `%"<type>"%`: the events_json array names the type. */
  type_pattern: string;
  integration_id: string;
  mode: Mode;
  now: number;
}

const fanOutQuery = prepared<FanOutArgs>((db) =>
  db
    .insertInto('webhook_deliveries')
    .columns(['id', 'event_id', 'endpoint_id', 'integration_id', 'mode', 'event_type', 'status', 'attempts', 'next_attempt_at', 'created_at', 'updated_at'])
    .expression((eb) =>
      eb
        .selectFrom('webhook_endpoints')
        .select((s) => [
          s.val(slot<string>('id')).as('id'),
          s.val(slot<string>('event_id')).as('event_id'),
          'webhook_endpoints.id as endpoint_id',
          'webhook_endpoints.integration_id',
          'webhook_endpoints.mode',
          s.val(slot<string>('event_type')).as('event_type'),
          s.case().when('webhook_endpoints.is_active', '=', 1).then('pending').else('held').end().as('status'),
          s.lit(0).as('attempts'),
          // Parameters in a SELECT list are text to Postgres unless cast.
          s.case().when('webhook_endpoints.is_active', '=', 1).then(s.cast<number>(s.val(slot<number>('now')), 'bigint')).else(null).end().as('next_attempt_at'),
          s.cast<number>(s.val(slot<number>('now')), 'bigint').as('created_at'),
          s.cast<number>(s.val(slot<number>('now')), 'bigint').as('updated_at'),
        ])
        .where('webhook_endpoints.integration_id', '=', slot<string>('integration_id'))
        .where('webhook_endpoints.mode', '=', slot<Mode>('mode'))
        .where((w) => w.or([w('webhook_endpoints.events_json', '=', '*'), w('webhook_endpoints.events_json', 'like', slot<string>('type_pattern'))])),
    )
    .onConflict((oc) => oc.doNothing()),
);

/**
 * Writes the delivery of an event to the integration's endpoint when it has one that wants the
 * type (`pending`, or `held` while paused); nothing otherwise. The delivery id is derived from the
 * event id, and a second call for the same event changes nothing.
 */
export async function fanOutEvent(db: QueryRunner, event: { id: string; integration_id: string; mode: Mode; type: string; now: number }): Promise<void> {
  await fanOutQuery(db, {
    id: deliveryIdFor(event.id),
    event_id: event.id,
    event_type: event.type,
    type_pattern: `%${JSON.stringify(event.type)}%`,
    integration_id: event.integration_id,
    mode: event.mode,
    now: event.now,
  });
}

/** `whd_` + the body of the event id (one endpoint per integration and mode: one delivery per event). */
export function deliveryIdFor(eventId: string): string {
  return `whd_${eventId.slice(eventId.indexOf('_') + 1)}`;
}

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

/** Newest first, keyset-paginated on (created_at, id). */
export async function listDeliveries(db: Executor, scope: Scope, limit: number, after: { created_at: number; id: string } | null): Promise<WebhookDeliveryRow[]> {
  let q = db.selectFrom('webhook_deliveries').selectAll().where('integration_id', '=', scope.integrationId).where('mode', '=', scope.mode);
  if (after) {
    q = q.where((eb) => eb.or([eb('created_at', '<', after.created_at), eb.and([eb('created_at', '=', after.created_at), eb('id', '<', after.id)])]));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

export async function findDelivery(db: Executor, scope: Scope, id: string): Promise<WebhookDeliveryRow | undefined> {
  return db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('id', '=', id)
    .where('integration_id', '=', scope.integrationId)
    .where('mode', '=', scope.mode)
    .executeTakeFirst();
}

/** Makes a delivery due now (a manual retry); one being attempted keeps its lease and is recorded by its attempt. */
export async function scheduleNow(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('webhook_deliveries').set({ status: 'pending', next_attempt_at: now, updated_at: now }).where('id', '=', id).execute();
}

export async function findEvents(db: Executor, ids: readonly string[]): Promise<EventRow[]> {
  return ids.length === 0 ? [] : db.selectFrom('events').selectAll().where('id', 'in', [...ids]).execute();
}

export async function findEndpointsByIds(db: Executor, ids: readonly string[]): Promise<WebhookEndpointRow[]> {
  return ids.length === 0 ? [] : db.selectFrom('webhook_endpoints').selectAll().where('id', 'in', [...ids]).execute();
}

/** Due deliveries looked at per claim (the earliest); the per-endpoint cap is applied among them. */
const CLAIM_WINDOW = 500;

/**
 * Claims up to `limit` due deliveries for `workerId` until `now + leaseMs`: at most `perEndpoint`
 * of one endpoint, none of the endpoints this process already has at their cap (`excludeEndpoints`),
 * earliest first. On Postgres the window of earliest candidates is locked with SKIP LOCKED (in its
 * own sub-select: the per-endpoint ranking, a window function, cannot carry FOR UPDATE), so
 * concurrent dispatchers take disjoint rows and never wait on each other or deadlock; the UPDATE
 * re-checks each row all the same.
 */
export async function claimDueDeliveries(
  db: Executor,
  args: { workerId: string; now: number; leaseMs: number; limit: number; perEndpoint: number; excludeEndpoints: readonly string[]; postgres: boolean },
): Promise<WebhookDeliveryRow[]> {
  const claimable = (eb: ExpressionBuilder<Tables, 'webhook_deliveries'>) =>
    eb.and([eb('status', '=', 'pending'), eb('next_attempt_at', '<=', args.now), eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', args.now)])]);
  let earliest = db
    .selectFrom('webhook_deliveries')
    .select(['id', 'endpoint_id', 'next_attempt_at'])
    .where(claimable)
    .orderBy('next_attempt_at')
    .limit(CLAIM_WINDOW);
  if (args.excludeEndpoints.length > 0) earliest = earliest.where('endpoint_id', 'not in', [...args.excludeEndpoints]);
  if (args.postgres) earliest = earliest.forUpdate().skipLocked();
  const ranked = db
    .selectFrom(earliest.as('e'))
    .select(['e.id', 'e.next_attempt_at', sql<number>`row_number() over (partition by e.endpoint_id order by e.next_attempt_at, e.id)`.as('rn')]);
  const chosen = db
    .selectFrom(ranked.as('r'))
    .select('r.id')
    .where('r.rn', '<=', args.perEndpoint)
    .orderBy('r.next_attempt_at')
    .limit(args.limit);
  return db
    .updateTable('webhook_deliveries')
    .set({ locked_until: args.now + args.leaseMs, locked_by: args.workerId })
    .where('id', 'in', chosen)
    .where(claimable)
    .returningAll()
    .execute();
}

/** Hands claimed deliveries back untried (over an endpoint's cap, or at shutdown). */
export async function releaseClaims(db: Executor, workerId: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('webhook_deliveries').set({ locked_until: null, locked_by: null }).where('locked_by', '=', workerId).where('id', 'in', [...ids]).execute();
}

export type AttemptRecord = Pick<
  WebhookDeliveryRow,
  'status' | 'attempts' | 'next_attempt_at' | 'last_attempt_at' | 'last_response_status' | 'last_response_ms' | 'last_response_body' | 'last_error' | 'updated_at'
>;

/** Records an attempt of a delivery this worker holds; false when its claim was lost meanwhile. */
export async function recordAttempt(db: Executor, id: string, workerId: string, record: AttemptRecord): Promise<boolean> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({ ...record, locked_until: null, locked_by: null })
    .where('id', '=', id)
    .where('locked_by', '=', workerId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
