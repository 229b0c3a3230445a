import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../../domain/clock.js';
import { ProblemError, problem } from '../../domain/errors.js';
import type { ReplayGuard } from '../../limits/replay-guard.js';
import { signingSecretOf, tenantOf } from './auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body bytes exactly as received (set by the JSON content-type parser), for signatures. */
    rawBody?: Buffer;
  }
}

/** How far `X-Timestamp` may be from the server clock, either way. */
export const SIGNATURE_WINDOW_SECONDS = 300;
/** How long an accepted signature is remembered: twice the window, so it is stale before it is forgotten. */
export const SIGNATURE_REPLAY_TTL_MS = 2 * SIGNATURE_WINDOW_SECONDS * 1000;

export interface SignatureDeps {
  clock: Clock;
  serverSecret: Buffer;
  replays: ReplayGuard;
}

const TIMESTAMP = /^\d{1,12}$/;
const V1_SIGNATURE = /^v1=([0-9a-fA-F]{64})$/;
const OTHER_SCHEME = /^v(?!1=)\d{1,3}=/;
const MAX_SIGNATURES = 8;
const EMPTY = Buffer.alloc(0);

/** `timestamp \n METHOD \n path-with-query \n hex SHA-256(body)`: what `v1` signatures cover. */
export function canonicalRequest(timestamp: string, method: string, pathWithQuery: string, body: Uint8Array): string {
  return `${timestamp}\n${method.toUpperCase()}\n${pathWithQuery}\n${createHash('sha256').update(body).digest('hex')}`;
}

const refuse = (detail: string): ProblemError => new ProblemError(problem('invalid-signature', detail));

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value.join(',') : value;
  return text === undefined || text.trim() === '' ? undefined : text.trim();
}

/**
 * The `v1=` values of `X-Signature` (a comma-separated list, so a client may send one per secret
 * while rotating) as lower-case hex; values of other schemes (`v2=…`) are skipped for forward
 * compatibility. Null when the header holds no usable `v1` value or anything else.
 */
function parseSignatures(value: string): string[] | null {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0 || items.length > MAX_SIGNATURES) return null;
  const out: string[] = [];
  for (const item of items) {
    const hex = V1_SIGNATURE.exec(item)?.[1];
    if (hex !== undefined) out.push(hex.toLowerCase());
    else if (!OTHER_SCHEME.test(item)) return null;
  }
  return out.length > 0 ? out : null;
}

/** The bytes the signature covers: the raw JSON body, a text body as UTF-8, or nothing. */
function bodyBytes(request: FastifyRequest): Buffer {
  if (request.rawBody !== undefined) return request.rawBody;
  if (request.body === undefined || request.body === null) return EMPTY;
  if (typeof request.body === 'string') return Buffer.from(request.body, 'utf8');
  // A parser that kept no raw bytes: the body cannot be checked, so it cannot be accepted.
  throw refuse('The body of this content type cannot be verified; send application/json.');
}

/**
 * Verifies `X-Timestamp` and `X-Signature` (API.md "Signed requests") when the integration's policy
 * requires signed requests or the request carries `X-Signature`. Runs after the API-key hook (the
 * secret is that of the key presented) and body parsing, and before schema validation and
 * idempotency, so a refused request stores nothing and a replay never reaches a cached response.
 * Every failure is 401 `invalid-signature` whose detail names the part that failed, never the
 * expected value.
 */
export function verifySignature(deps: SignatureDeps) {
  return async (request: FastifyRequest): Promise<void> => {
    const tenant = tenantOf(request);
    const signatureHeader = header(request, 'x-signature');
    if (!tenant.policy.require_signed_requests && request.headers['x-signature'] === undefined) return;

    const timestamp = header(request, 'x-timestamp');
    if (timestamp === undefined) throw refuse('X-Timestamp is missing: signed requests carry X-Timestamp (unix seconds) and X-Signature.');
    if (signatureHeader === undefined) throw refuse('X-Signature is missing: signed requests carry X-Timestamp (unix seconds) and X-Signature.');
    if (!TIMESTAMP.test(timestamp)) throw refuse('X-Timestamp is malformed: send whole unix seconds, e.g. 1700000000.');
    const given = parseSignatures(signatureHeader);
    if (given === null) throw refuse('X-Signature is malformed: send v1=<64 hex characters of HMAC-SHA256>.');

    const skew = Number(timestamp) - Math.floor(deps.clock.now() / 1000);
    if (skew < -SIGNATURE_WINDOW_SECONDS) throw refuse(`X-Timestamp is stale: more than ${SIGNATURE_WINDOW_SECONDS} s older than the server clock.`);
    if (skew > SIGNATURE_WINDOW_SECONDS) throw refuse(`X-Timestamp is in the future: more than ${SIGNATURE_WINDOW_SECONDS} s ahead of the server clock.`);

    const canonical = canonicalRequest(timestamp, request.method, request.url, bodyBytes(request));
    const expected = createHmac('sha256', signingSecretOf(request, deps.serverSecret)).update(canonical, 'utf8').digest();
    // Compare every candidate (no early exit), each in constant time.
    let matched: string | null = null;
    for (const hex of given) {
      if (timingSafeEqual(Buffer.from(hex, 'hex'), expected) && matched === null) matched = hex;
    }
    if (matched === null) throw refuse('The signature does not match the request (secret, timestamp, method, path with query and body).');

    // Recorded only once it matched, so forged signatures cannot fill the table.
    const fresh = await deps.replays.firstSeen(`${tenant.integrationId}:${matched}`, SIGNATURE_REPLAY_TTL_MS);
    if (!fresh) throw refuse('The signature was already used: a signed request is accepted once (replay refused).');
  };
}

/** Registers the check on every route of `app` (the `/v1` scope). */
export function registerSignatures(app: FastifyInstance, deps: SignatureDeps): void {
  const verify = verifySignature(deps);
  app.addHook('preValidation', (request, _reply, done) => {
    // Without a promise on the common path: unsigned, and the integration does not require it.
    if (request.tenant && !request.tenant.policy.require_signed_requests && request.headers['x-signature'] === undefined) return done();
    verify(request).then(() => done(), (error: unknown) => done(error as Error));
  });
}
