import { sql, type ExpressionBuilder } from 'kysely';
import { inSubqueryOnce } from './claim-once.js';
import { prepared, slot, slots, type QueryRunner } from './prepared.js';
import type { EventsTable, Executor, Mode, Tables, WebhookDeliveriesTable, WebhookEndpointsTable } from './tables.js';
import type { Scope } from './verifications-repo.js';

export type WebhookEndpointRow = WebhookEndpointsTable;
export type WebhookDeliveryRow = WebhookDeliveriesTable;
export type EventRow = EventsTable;

// The partial indexes of webhook_deliveries (migration 015) are used only when a query spells its
// status as a literal, not a parameter.
const PENDING = sql.lit('pending') as unknown as 'pending';
const HELD = sql.lit('held') as unknown as 'held';

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
  const endpoint = await db.selectFrom('webhook_endpoints').select(['integration_id', 'mode']).where('id', '=', id).executeTakeFirst();
  if (!endpoint) return;
  // By integration and mode (the list index; one endpoint each), not by endpoint_id, which only held deliveries index.
  await db.deleteFrom('webhook_deliveries').where('integration_id', '=', endpoint.integration_id).where('mode', '=', endpoint.mode).where('endpoint_id', '=', id).execute();
  await db.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
}

/** Held deliveries of a resumed endpoint become due now. */
export async function releaseHeld(db: Executor, endpointId: string, now: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: now, updated_at: now })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', HELD)
    .execute();
}

/** Pending deliveries of a paused or disabled endpoint are held (those in flight are recorded by their attempt). */
export async function holdPending(db: Executor, endpointId: string, now: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'held', next_attempt_at: null, updated_at: now })
    .where('endpoint_id', '=', endpointId)
    .where('status', '=', PENDING)
    .where('locked_by', 'is', null)
    .execute();
}

// ---------------------------------------------------------------------------------------------
// Fan-out (runs inside the transaction that records an event: prepared statements only, so it
// also runs in the embedded store's direct transactions)
// ---------------------------------------------------------------------------------------------

const fanOutEndpointQuery = prepared<{ integration_id: string; mode: Mode }, FanOutEndpoint>((db) =>
  db
    .selectFrom('webhook_endpoints')
    .select(['id', 'is_active', 'events_json'])
    .where('integration_id', '=', slot<string>('integration_id'))
    .where('mode', '=', slot<Mode>('mode'))
    .limit(1),
);

/** What fan-out needs to know of an integration's endpoint: where deliveries go, whether they are held, which types it wants. */
export type FanOutEndpoint = Pick<WebhookEndpointRow, 'id' | 'is_active' | 'events_json'>;

/** The integration and mode's endpoint (active or not), as fan-out reads it. */
export async function findFanOutEndpoint(db: QueryRunner, scope: Scope): Promise<FanOutEndpoint | undefined> {
  const result = await fanOutEndpointQuery(db, { integration_id: scope.integrationId, mode: scope.mode });
  return result.rows[0];
}

type NewDelivery = Pick<
  WebhookDeliveryRow,
  'id' | 'event_id' | 'endpoint_id' | 'integration_id' | 'mode' | 'event_type' | 'status' | 'attempts' | 'next_attempt_at' | 'created_at' | 'updated_at'
>;

// A plain INSERT … VALUES: the INSERT … SELECT from webhook_endpoints it replaced cost SQLite about
// 90 µs against 15 µs, and fan-out runs for every event (two per test-mode send).
const insertDeliveryQuery = prepared<NewDelivery>((db) =>
  db
    .insertInto('webhook_deliveries')
    .values(slots<NewDelivery>(['id', 'event_id', 'endpoint_id', 'integration_id', 'mode', 'event_type', 'status', 'attempts', 'next_attempt_at', 'created_at', 'updated_at']))
    .onConflict((oc) => oc.doNothing()),
  { deferrable: true },
);

/**
 * Writes the delivery of an event to `endpoint` (`pending`, or `held` while it is paused). The
 * delivery id is derived from the event id, and a second call for the same event changes nothing.
 */
export async function insertDelivery(db: QueryRunner, endpoint: { id: string; active: boolean }, event: { id: string; integration_id: string; mode: Mode; type: string; now: number }): Promise<void> {
  await insertDeliveryQuery(db, {
    id: deliveryIdFor(event.id),
    event_id: event.id,
    endpoint_id: endpoint.id,
    integration_id: event.integration_id,
    mode: event.mode,
    event_type: event.type,
    status: endpoint.active ? 'pending' : 'held',
    attempts: 0,
    next_attempt_at: endpoint.active ? event.now : null,
    created_at: event.now,
    updated_at: event.now,
  });
}

// Deferrable: in a pipelined Postgres transaction it goes with the next round trip instead of taking
// one of its own, and its outcome is not known (see insertClaimedDelivery).
const insertClaimedDeliveryQuery = prepared<WebhookDeliveryRow>((db) =>
  db
    .insertInto('webhook_deliveries')
    .values(
      slots<WebhookDeliveryRow>([
        'id', 'event_id', 'endpoint_id', 'integration_id', 'mode', 'event_type', 'status', 'attempts', 'next_attempt_at', 'locked_until', 'locked_by',
        'last_attempt_at', 'last_response_status', 'last_response_ms', 'last_response_body', 'last_error', 'created_at', 'updated_at',
      ]),
    )
    .onConflict((oc) => oc.doNothing()),
  { deferrable: true },
);

/**
 * Writes the pending delivery of an event already claimed by a dispatcher of this process (see
 * fan-out's WebhookHandoff): `locked_by` and `locked_until` set, and `next_attempt_at` at the lease's
 * end, as a claim leaves them. Returns the row, or undefined when the event already had its delivery.
 * In a pipelined Postgres transaction the INSERT is deferred and its outcome unknown: the row is
 * returned, which is right for the event the same transaction has just written (its id is new, so
 * no delivery can exist for it, and the transaction fails as a whole if the INSERT does).
 */
export async function insertClaimedDelivery(
  db: QueryRunner,
  endpointId: string,
  event: { id: string; integration_id: string; mode: Mode; type: string; now: number },
  claim: { workerId: string; until: number },
): Promise<WebhookDeliveryRow | undefined> {
  const row: WebhookDeliveryRow = {
    id: deliveryIdFor(event.id),
    event_id: event.id,
    endpoint_id: endpointId,
    integration_id: event.integration_id,
    mode: event.mode,
    event_type: event.type,
    status: 'pending',
    attempts: 0,
    next_attempt_at: claim.until,
    locked_until: claim.until,
    locked_by: claim.workerId,
    last_attempt_at: null,
    last_response_status: null,
    last_response_ms: null,
    last_response_body: null,
    last_error: null,
    created_at: event.now,
    updated_at: event.now,
  };
  const result = await insertClaimedDeliveryQuery(db, row);
  return result.numAffectedRows === undefined || result.numAffectedRows > 0n ? row : undefined;
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

/**
 * Claims up to `limit` due deliveries for `workerId` until `lease`, earliest first, none of the
 * endpoints this process already has at their cap (`excludeEndpoints`; the dispatcher hands back
 * what it took beyond an endpoint's cap). A claimed delivery's `next_attempt_at` moves to the end of
 * its lease (a visibility timeout): in-flight deliveries leave the due range of the
 * (status, next_attempt_at) index, so a claim reads only rows it can take instead of stepping over
 * every one in flight, and a delivery whose process died is due again when its lease ends.
 * On Postgres the candidates are locked with SKIP LOCKED, so concurrent dispatchers take disjoint
 * rows and never wait on each other (see claimStatement).
 */
export type ClaimArgs = { workerId: string; now: number; lease: number; limit: number; excludeEndpoints: readonly string[]; postgres: boolean };

/** The claim's UPDATE (without RETURNING): the chosen due deliveries taken by `workerId` until `lease` (exported for its query-plan test). */
export function claimStatement(db: Executor, args: ClaimArgs) {
  const claimable = (eb: ExpressionBuilder<Tables, 'webhook_deliveries'>) =>
    eb.and([eb('status', '=', PENDING), eb('next_attempt_at', '<=', args.now), eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', args.now)])]);
  let chosen = db.selectFrom('webhook_deliveries').select('id').where(claimable).orderBy('next_attempt_at').limit(args.limit);
  if (args.excludeEndpoints.length > 0) chosen = chosen.where('endpoint_id', 'not in', [...args.excludeEndpoints]);
  if (args.postgres) chosen = chosen.forUpdate().skipLocked();
  const update = db.updateTable('webhook_deliveries').set({ locked_until: args.lease, locked_by: args.workerId, next_attempt_at: args.lease });
  // The UPDATE takes the chosen rows by id and tests nothing else. On Postgres the subquery's row lock
  // already re-tests its WHERE on the row as it is when locked (a row changed since the statement's
  // snapshot is skipped unless it still qualifies), and the lock keeps it so until the UPDATE. A
  // re-test in the UPDATE itself would be redundant, and it let the planner walk the due rows of the
  // pending index and filter them by id instead of looking the ids up (10,179 rows read to take 50,
  // in a benchmark). SQLite runs the statement alone.
  return args.postgres ? update.where(inSubqueryOnce('id', chosen)) : update.where('id', 'in', chosen);
}

async function claimDueDeliveries(db: Executor, args: ClaimArgs): Promise<WebhookDeliveryRow[]> {
  return claimStatement(db, args).returningAll().execute();
}

/** A claimed delivery with its event (undefined: no longer stored). */
export interface ClaimedDelivery {
  row: WebhookDeliveryRow;
  event: EventRow | undefined;
}

/**
 * claimDueDeliveries, with each delivery's event: on Postgres in the claiming statement
 * itself (the claim as a data-modifying CTE joined to `events`: one round trip, was two), elsewhere
 * read after it.
 */
export async function claimDueWithEvents(db: Executor, args: ClaimArgs): Promise<ClaimedDelivery[]> {
  if (!args.postgres) {
    const rows = await claimDueDeliveries(db, args);
    const events = new Map((await findEvents(db, rows.map((r) => r.event_id))).map((e) => [e.id, e]));
    return rows.map((row) => ({ row, event: events.get(row.event_id) }));
  }
  const rows = await db
    .with('claimed', () => claimStatement(db, args).returningAll())
    .selectFrom('claimed')
    .leftJoin('events as e', 'e.id', 'claimed.event_id')
    .selectAll('claimed')
    .select(['e.id as ev_id', 'e.integration_id as ev_integration_id', 'e.mode as ev_mode', 'e.type as ev_type', 'e.data_json as ev_data_json', 'e.created_at as ev_created_at'])
    .orderBy('claimed.id') // ids are time-ordered (to the millisecond): about the order the events happened
    .execute();
  return rows.map(({ ev_id, ev_integration_id, ev_mode, ev_type, ev_data_json, ev_created_at, ...row }) => ({
    row,
    event:
      ev_id === null
        ? undefined
        : { id: ev_id, integration_id: ev_integration_id as string, mode: ev_mode as Mode, type: ev_type as string, data_json: ev_data_json as string, created_at: ev_created_at as number },
  }));
}

/** Hands claimed deliveries back untried and due at `now` (over an endpoint's cap, or at shutdown). */
export async function releaseClaims(db: Executor, workerId: string, ids: readonly string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_deliveries')
    .set({ locked_until: null, locked_by: null, next_attempt_at: now })
    .where('locked_by', '=', workerId)
    .where('id', 'in', [...ids])
    .execute();
}

/** Drops a delivery this worker holds whose endpoint is gone (fan-out read a stale cache entry). */
export async function dropClaimed(db: Executor, workerId: string, id: string): Promise<void> {
  await db.deleteFrom('webhook_deliveries').where('id', '=', id).where('locked_by', '=', workerId).execute();
}

/**
 * Held deliveries whose endpoint is active become due at `now`: a delivery written `held` from a
 * stale "paused" (another process's cache, or a fan-out that committed beside the resume) is not
 * left behind. Returns how many.
 */
export async function releaseHeldOfActive(db: Executor, now: number): Promise<number> {
  const result = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'pending', next_attempt_at: now, updated_at: now })
    .where('status', '=', HELD)
    .where('endpoint_id', 'in', (eb) => eb.selectFrom('webhook_endpoints').select('id').where('is_active', '=', 1))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export type AttemptRecord = Pick<
  WebhookDeliveryRow,
  'status' | 'attempts' | 'next_attempt_at' | 'last_attempt_at' | 'last_response_status' | 'last_response_ms' | 'last_response_body' | 'last_error' | 'updated_at'
>;

type AttemptArgs = AttemptRecord & { id: string; worker_id: string };

const recordAttemptQuery = prepared<AttemptArgs>((db) =>
  db
    .updateTable('webhook_deliveries')
    .set({
      ...slots<AttemptRecord>(['status', 'attempts', 'next_attempt_at', 'last_attempt_at', 'last_response_status', 'last_response_ms', 'last_response_body', 'last_error', 'updated_at']),
      locked_until: null,
      locked_by: null,
    })
    .where('id', '=', slot<string>('id'))
    .where('locked_by', '=', slot<string>('worker_id')),
);

/** Records an attempt of a delivery this worker holds; false when its claim was lost meanwhile. */
export async function recordAttempt(db: QueryRunner, id: string, workerId: string, record: AttemptRecord): Promise<boolean> {
  const result = await recordAttemptQuery(db, { ...record, id, worker_id: workerId });
  return Number(result.numAffectedRows ?? 0) > 0;
}
