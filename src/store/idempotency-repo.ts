import { ProblemError, problem } from '../domain/errors.js';
import { prepared, slot, type QueryRunner } from './prepared.js';
import type { Executor, IdempotencyKeysTable } from './tables.js';

export type IdempotencyRow = IdempotencyKeysTable;

/**
 * A request's hold on an Idempotency-Key. `leaseUntil` is both when the claim lapses and its fencing
 * token: a retry that takes a lapsed claim over sets a later one, and every write of the holder to
 * the row requires its own, so a holder that was taken over can no longer record anything.
 */
export interface IdempotencyClaim {
  readonly scope: string;
  readonly key: string;
  readonly leaseUntil: number;
}

/**
 * Claims a key for a request. Returns null when this call claimed it, or the existing row. A row
 * older than `expiredBefore` is forgotten first (keys live 24 h).
 */
export async function claimKey(
  db: Executor,
  row: { scope: string; key: string; request_hash: string; now: number; lease_until: number },
  expiredBefore: number,
): Promise<IdempotencyRow | null> {
  await db.deleteFrom('idempotency_keys').where('scope', '=', row.scope).where('key', '=', row.key).where('created_at', '<', expiredBefore).execute();
  const inserted = await db
    .insertInto('idempotency_keys')
    .values({
      scope: row.scope,
      key: row.key,
      request_hash: row.request_hash,
      status: 'in_flight',
      response_status: null,
      response_body: null,
      created_at: row.now,
      lease_until: row.lease_until,
      resource_kind: null,
      resource_id: null,
    })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return null;
  const existing = await db.selectFrom('idempotency_keys').selectAll().where('scope', '=', row.scope).where('key', '=', row.key).executeTakeFirst();
  return existing ?? null;
}

/**
 * Takes over a lapsed in-flight claim that recorded no resource (its request died before its
 * operation committed anything): true when this call won it. A compare-and-set on the lease seen by
 * the caller, so of several retries that saw the same lapsed claim exactly one wins (the store
 * applies the UPDATE to the row one at a time; the losers find a lease they did not see).
 */
export async function takeOverKey(db: Executor, seen: Pick<IdempotencyRow, 'scope' | 'key' | 'lease_until'>, leaseUntil: number): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({ lease_until: leaseUntil })
    .where('scope', '=', seen.scope)
    .where('key', '=', seen.key)
    .where('status', '=', 'in_flight')
    .where('resource_id', 'is', null)
    .where('lease_until', seen.lease_until === null ? 'is' : '=', seen.lease_until)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** What operations record on their claim (recordResource); the HTTP layer knows how to present each. */
export const IDEMPOTENT_RESOURCE = {
  /** POST /v1/verifications: the verification it created. */
  verification: 'verification',
  /** POST /v1/verifications/check: the session an approval opened. */
  session: 'session',
  /** POST /admin/v1/integrations: the integration (with its first test and live key). */
  integration: 'integration',
  /** POST /admin/v1/integrations/{id}/keys: the key. */
  apiKey: 'api_key',
  /** POST /admin/v1/integrations/{id}/topups: the top-up's ledger entry. */
  topup: 'topup',
  /** POST /v1/sandbox/inboxes: the inbox it opened (and charged). */
  inbox: 'inbox',
} as const;

const recordResourceQuery = prepared<{ kind: string; id: string; scope: string; key: string; lease: number }>((db) =>
  db
    .updateTable('idempotency_keys')
    .set({ resource_kind: slot<string>('kind'), resource_id: slot<string>('id') })
    .where('scope', '=', slot<string>('scope'))
    .where('key', '=', slot<string>('key'))
    .where('status', '=', 'in_flight')
    .where('lease_until', '=', slot<number>('lease')),
);

/**
 * Writes what the guarded operation created onto its claim, in the operation's own transaction, so
 * a crash leaves both or neither. A claim taken over in the meantime (this request outlived its
 * lease) refuses the write, and the throw rolls the operation back: the request that holds the key
 * now runs it instead (409 `idempotency-conflict` here).
 */
export async function recordResource(trx: QueryRunner, claim: IdempotencyClaim, kind: (typeof IDEMPOTENT_RESOURCE)[keyof typeof IDEMPOTENT_RESOURCE], id: string): Promise<void> {
  const result = await recordResourceQuery(trx, { kind, id, scope: claim.scope, key: claim.key, lease: claim.leaseUntil });
  if (Number(result.numAffectedRows ?? 0n) !== 1) {
    throw new ProblemError(problem('idempotency-conflict', 'This request outlived its hold on the Idempotency-Key; a retry holds it now.'));
  }
}

/**
 * Records the answer to replay: `body` as the caller stores it (the plugin seals it, without
 * credentials). Only while the claim is still this request's: the first answer stored stays.
 */
export async function completeKey(db: Executor, claim: IdempotencyClaim, status: number, body: string): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ status: 'done', response_status: status, response_body: body })
    .where('scope', '=', claim.scope)
    .where('key', '=', claim.key)
    .where('status', '=', 'in_flight')
    .where('lease_until', '=', claim.leaseUntil)
    .execute();
}

/**
 * Forgets a claim whose request did not complete (a server error): the client may retry it. Not
 * one whose operation committed a resource (a retry answers with it), nor one taken over.
 */
export async function releaseKey(db: Executor, claim: IdempotencyClaim): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('scope', '=', claim.scope)
    .where('key', '=', claim.key)
    .where('status', '=', 'in_flight')
    .where('lease_until', '=', claim.leaseUntil)
    .where('resource_id', 'is', null)
    .execute();
}

export async function purgeExpiredKeys(db: Executor, expiredBefore: number): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('created_at', '<', expiredBefore).execute();
}
