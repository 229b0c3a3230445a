import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock, Random } from '../../domain/clock.js';
import { seal, unseal } from '../../domain/codes.js';
import { problem, validationProblem } from '../../domain/errors.js';
import { claimKey, completeKey, releaseKey, takeOverKey, type IdempotencyClaim, type IdempotencyRow } from '../../store/idempotency-repo.js';
import type { Db } from '../../store/tables.js';
import { PROBLEM_CONTENT_TYPE, sendProblem } from '../problem-reply.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's claim on its Idempotency-Key: services that write in a transaction record their resource on it (recordResource). */
    idempotency?: IdempotencyClaim;
  }
}

const TTL_MS = 24 * 60 * 60 * 1000;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
    .digest('hex');
}

/** Responses worth replaying: the request ran to a final answer (not a 5xx, not a 429 to retry later). */
const storable = (status: number): boolean => status < 500 && status !== 429;

/** What a replay shows in place of a credential of the first answer. */
export const SHOWN_ONCE = '[shown once]';

/**
 * Fields of an answer that carry a credential: API keys and their signing secrets (admin creates), a
 * webhook secret, the `otp_session` and `access_token` of an approved check. Only string values:
 * a policy's `access_token` settings object stays.
 */
const SECRET_FIELDS = new Set(['key', 'signing_secret', 'secret', 'otp_session', 'access_token', 'refresh_token', 'auth_token']);

/**
 * The answer as it is kept for replays: every credential replaced by "[shown once]".
 *
 * Why a replay does not show them again: a key's secrets are documented as shown once, and an
 * idempotency record is readable for 24 h by anyone holding the scope's credential, the key and the
 * request body: replaying it would hand out a live API key, signing secret or OTP session a second
 * time, long after the first answer. A replay still says what happened (status, ids, the approval),
 * so a client that lost the first answer knows the operation ran, and recovers the secret the way
 * it would have to anyway: issue another key, or check a new code. The secrets are dropped before
 * the answer is stored, so they are never at rest at all; what is stored is sealed too (answers hold
 * phone numbers, e-mail addresses and names), and unreadable without the server secret.
 * An answer without credentials is kept byte for byte.
 */
export function withoutSecrets(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  let changed = false;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([field, inner]) => {
        if (SECRET_FIELDS.has(field) && typeof inner === 'string') {
          changed = true;
          return [field, SHOWN_ONCE];
        }
        return [field, walk(inner)];
      }),
    );
  };
  const redacted = walk(parsed);
  return changed ? JSON.stringify(redacted) : body;
}

const SEALED_PREFIX = 'v1.';

/**
 * How a retry answers for a resource that its key's operation committed (recordResource) when the
 * answer itself was never stored (the process died in between): the status of the first answer and
 * the resource as it is now, without credentials. Null: not found (then 409, as before).
 */
export type ResourcePresenter = (request: FastifyRequest, id: string) => Promise<{ status: number; body: unknown } | null>;

export interface IdempotencyDeps {
  store: { db: Db };
  clock: Clock;
  random: Random;
  /** Seals the stored answers. */
  serverSecret: Buffer;
  /** How long a claim holds before a retry may take it over (config.idempotencyLeaseMs). */
  leaseMs: number;
  /** Presenters by `resource_kind`, for the routes whose operations record one. */
  resources?: Readonly<Record<string, ResourcePresenter>>;
}

/**
 * `Idempotency-Key` on any POST, scoped to the integration and mode (or to the operator): the same
 * key and body within 24 h replays the first response with `Idempotent-Replayed: true`; another body
 * → 422 `idempotency-key-reused`; a key still in flight → 409 `idempotency-conflict`.
 * Runs as a preHandler, so requests that fail auth or schema validation are not recorded.
 * Stored answers are sealed and keep no credential (see withoutSecrets).
 *
 * Crashes: a claim is leased (`leaseMs`). Operations that write in a transaction record what they
 * created on the claim in that same transaction (recordResource), so a process killed before the
 * answer is stored leaves either nothing (the lease lapses, a retry takes the claim over and runs
 * the request again: nothing was committed, nothing is duplicated) or the resource (a retry answers
 * with it, replayed). Requests without the header cost nothing more.
 */
export function registerIdempotency(app: FastifyInstance, deps: IdempotencyDeps): void {
  const db = deps.store.db;
  const claim = idempotencyClaim(deps);
  // Callback-style hooks: requests without a key (most) pass without a promise.
  app.addHook('preHandler', (request, reply, done) => {
    if (request.method !== 'POST' || request.headers['idempotency-key'] === undefined) return done();
    claim(request, reply).then(
      (answered) => {
        if (!answered) done(); // an answered request (replay, 409, 422, 400) goes no further
      },
      (error: unknown) => done(error as Error),
    );
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    const claimed = request.idempotency;
    if (!claimed) return done(null, payload);
    request.idempotency = undefined;
    const settle = storable(reply.statusCode) && typeof payload === 'string'
      ? completeKey(db, claimed, reply.statusCode, seal(deps.serverSecret, deps.random, withoutSecrets(payload)))
      : releaseKey(db, claimed);
    settle.then(() => done(null, payload), (error: unknown) => done(error as Error));
  });
}

/** Claims the request's key (false), or answers the request (true: replay, 422, 409, 400). */
function idempotencyClaim(deps: IdempotencyDeps) {
  const { store: { db }, clock, serverSecret, leaseMs } = deps;
  const resources = deps.resources ?? {};
  return async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const key = request.headers['idempotency-key'];
    if (key === undefined) return false;
    if (typeof key !== 'string' || !KEY_SHAPE.test(key)) {
      sendProblem(reply, validationProblem('Idempotency-Key must be 1–255 printable ASCII characters.', { 'Idempotency-Key': ['invalid_format'] }));
      return true;
    }
    const scope = request.tenant ? `${request.tenant.integrationId}:${request.tenant.mode}` : request.url.startsWith('/admin/') ? 'admin' : null;
    if (scope === null) return false;
    const now = clock.now();
    const hash = requestHash(request);
    const leaseUntil = now + leaseMs;
    const existing = await claimKey(db, { scope, key, request_hash: hash, now, lease_until: leaseUntil }, now - TTL_MS);
    if (existing === null) {
      request.idempotency = { scope, key, leaseUntil };
      return false;
    }
    if (existing.request_hash !== hash) {
      sendProblem(reply, problem('idempotency-key-reused', 'This Idempotency-Key was used with a different request.'));
    } else if (existing.status === 'done' && existing.response_status !== null) {
      reply
        .code(existing.response_status)
        .header('idempotent-replayed', 'true')
        .type(existing.response_status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json; charset=utf-8')
        .send(storedAnswer(serverSecret, existing.response_body));
    } else if (existing.status === 'in_flight' && existing.resource_kind !== null && existing.resource_id !== null) {
      // The operation committed, its answer was never stored (or not yet): answer with what it made.
      const answer = await resources[existing.resource_kind]?.(request, existing.resource_id);
      if (!answer || existing.lease_until === null) return conflict(reply);
      // Stored as the key's answer (onSend) unless the first request stores its own before.
      request.idempotency = { scope, key, leaseUntil: existing.lease_until };
      reply.code(answer.status).header('idempotent-replayed', 'true').send(answer.body);
    } else if (existing.status === 'in_flight' && lapsed(existing, now, leaseMs)) {
      // Its request died before committing anything: this retry runs it, if no other retry won the claim first.
      if (!(await takeOverKey(db, existing, leaseUntil))) return conflict(reply);
      request.idempotency = { scope, key, leaseUntil };
      return false;
    } else {
      return conflict(reply);
    }
    return true;
  };
}

/** Whether an in-flight claim's lease has run out (one made before leases: counted from its creation). */
function lapsed(row: IdempotencyRow, now: number, leaseMs: number): boolean {
  return (row.lease_until ?? row.created_at + leaseMs) <= now;
}

function conflict(reply: FastifyReply): true {
  sendProblem(reply, problem('idempotency-conflict', 'A request with this Idempotency-Key is still in progress.'));
  return true;
}

/** A stored answer as replayed; one kept in clear by an older version (JSON, never `v1.…`) loses its credentials too. */
function storedAnswer(serverSecret: Buffer, stored: string | null): string | null {
  if (stored === null) return null;
  return stored.startsWith(SEALED_PREFIX) ? unseal(serverSecret, stored) : withoutSecrets(stored);
}
