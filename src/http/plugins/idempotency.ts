import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../domain/clock.js';
import { problem, validationProblem } from '../../domain/errors.js';
import { claimKey, completeKey, releaseKey } from '../../store/idempotency-repo.js';
import type { Db } from '../../store/tables.js';
import { PROBLEM_CONTENT_TYPE, sendProblem } from '../problem-reply.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { scope: string; key: string };
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

/**
 * `Idempotency-Key` on any POST, scoped to the integration and mode (or to the operator): the same
 * key and body within 24 h replays the first response with `Idempotent-Replayed: true`; another body
 * → 422 `idempotency-key-reused`; a key still in flight → 409 `idempotency-conflict`.
 * Runs as a preHandler, so requests that fail auth or schema validation are not recorded.
 */
export function registerIdempotency(app: FastifyInstance, db: Db, clock: Clock): void {
  const claim = idempotencyClaim(db, clock);
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
      ? completeKey(db, claimed.scope, claimed.key, reply.statusCode, payload)
      : releaseKey(db, claimed.scope, claimed.key);
    settle.then(() => done(null, payload), (error: unknown) => done(error as Error));
  });
}

/** Claims the request's key (false), or answers the request (true: replay, 422, 409, 400). */
function idempotencyClaim(db: Db, clock: Clock) {
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
    const existing = await claimKey(db, { scope, key, request_hash: hash, now }, now - TTL_MS);
    if (existing === null) {
      request.idempotency = { scope, key };
      return false;
    }
    if (existing.request_hash !== hash) {
      sendProblem(reply, problem('idempotency-key-reused', 'This Idempotency-Key was used with a different request.'));
    } else if (existing.status !== 'done' || existing.response_status === null) {
      sendProblem(reply, problem('idempotency-conflict', 'A request with this Idempotency-Key is still in progress.'));
    } else {
      reply
        .code(existing.response_status)
        .header('idempotent-replayed', 'true')
        .type(existing.response_status >= 400 ? PROBLEM_CONTENT_TYPE : 'application/json; charset=utf-8')
        .send(existing.response_body);
    }
    return true;
  };
}
