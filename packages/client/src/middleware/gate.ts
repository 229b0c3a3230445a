import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { OtpgateClient } from '../client.js';
import { PROBLEM_STATUS, unavailableProblem, type Problem } from '../problem.js';
import type { AuthorizedSession, Mode } from '../types.js';

/** What `requireOtp` puts on the request (`req.otp`) when the action is allowed. */
export interface OtpContext {
  /** Whether the policy gates the action (always true in access-token mode). */
  otpRequired: boolean;
  /** The session it ran under, when the action is gated (session mode). */
  session?: AuthorizedSession;
  /** The verified access token's claims (access-token mode). */
  token?: JWTPayload & { scope?: string; mode?: Mode; sid?: string };
}

/** Offline verification of access tokens instead of calling `/v1/authorize`. */
export interface AccessTokenOptions<Req> {
  /** @default client.baseUrl + '/.well-known/jwks.json' */
  jwksUrl?: string;
  /**
   * The integration id (`int_…`) the token must be issued to. The token's `aud` must be
   * `<audience>:<mode>` and its `mode` claim the mode of the client's key (`otpg_live_…` → `live`,
   * `otpg_test_…` → `test`), so a live gate never accepts a test token, nor a test gate a live one.
   */
  audience: string;
  /** The expected `iss`. @default undefined (not checked) */
  issuer?: string;
  /** @default the `Authorization: Bearer <token>` header */
  getToken?: (req: Req) => string | undefined;
}

/** Options of `requireOtp` for Express and Fastify. */
export interface RequireOtpOptions<Req> {
  client: OtpgateClient;
  /** @default the `X-OTP-Session` header */
  getSession?: (req: Req) => string | undefined;
  /** The identifier the session must belong to. @default undefined (any identifier) */
  getIdentifier?: (req: Req) => string | undefined;
  /** How long an allowed answer is reused for the same session, action and identifier; 0 turns caching off. Refusals are never cached. @default 5000 */
  cacheTtlMs?: number;
  /** Verify a bearer access token offline (EdDSA, JWKS) and require the action in its `scope`. @default undefined (session mode) */
  accessToken?: AccessTokenOptions<Req>;
}

/** A gate's answer: go on with `otp`, or answer `status` with `problem` (problem+json). */
export type GateDecision = { allowed: true; otp: OtpContext } | { allowed: false; status: number; problem: Problem };

/** What the framework adapter read from the request. */
export interface GateInput {
  session?: string;
  identifier?: string;
  token?: string;
}

export const DEFAULT_CACHE_TTL_MS = 5000;
const MAX_CACHE_ENTRIES = 10_000;
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/**
 * The first value of a header that may repeat; an empty value counts as absent.
 * @default undefined for a missing or empty header
 * @example
 * headerValue(req.headers['x-otp-session']); // 'otps_…' or undefined
 */
export function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/**
 * The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
 * @default undefined for a missing header or another scheme
 * @example
 * bearerToken('Bearer eyJhbGciOiJFZERTQSJ9…'); // 'eyJhbGciOiJFZERTQSJ9…'
 */
export function bearerToken(authorization: string | string[] | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(authorization) ?? '');
  return match?.[1];
}

function otpRequired(detail: string): Problem {
  return { type: 'otp-required', title: 'A valid OTP session is required for this action', status: PROBLEM_STATUS['otp-required'], detail };
}

const failClosed = (detail: string): GateDecision => ({ allowed: false, status: 503, problem: unavailableProblem(detail) });

/** jose errors that mean "the keys could not be fetched" rather than "the token is bad". */
function isJwksUnavailable(error: unknown): boolean {
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC';
}

/**
 * The framework-neutral decision behind `requireOtp`: session mode asks `/v1/authorize` (with a
 * short cache of allowed answers); access-token mode verifies the JWT against the JWKS.
 * Fails closed: otpgate unreachable or answering 5xx → 503 `unavailable`.
 * @default cacheTtlMs 5000, session mode
 * @example
 * const gate = createGate('redemption', { client });
 * const decision = await gate({ session: 'ots_…', identifier: '+5511987654321' });
 */
export function createGate<Req>(action: string, options: RequireOtpOptions<Req>): (input: GateInput) => Promise<GateDecision> {
  const { client } = options;
  const ttl = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  const cache = new Map<string, { expires: number; otp: OtpContext }>();

  const tokenOptions = options.accessToken;
  if (tokenOptions) {
    if (!tokenOptions.audience) throw new TypeError('requireOtp: accessToken.audience (the integration id) is required');
    const mode = client.mode;
    if (!mode) throw new TypeError('requireOtp: accessToken needs a client whose apiKey is an otpg_live_… or otpg_test_… key (it sets the mode tokens must have)');
    const audience = expectedAudience(tokenOptions.audience, mode);
    const jwks = createRemoteJWKSet(tokenOptions.jwksUrl ? new URL(tokenOptions.jwksUrl) : client.url('/.well-known/jwks.json'));
    return async ({ token }) => {
      if (!token) return { allowed: false, status: 403, problem: otpRequired('An access token is required (Authorization: Bearer <token>).') };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          algorithms: ['EdDSA'],
          audience,
          ...(tokenOptions.issuer !== undefined ? { issuer: tokenOptions.issuer } : {}),
        }));
      } catch (error) {
        if (isJwksUnavailable(error)) return failClosed('The keys that sign access tokens could not be fetched from otpgate.');
        return { allowed: false, status: 403, problem: otpRequired('The access token is not valid or has expired.') };
      }
      // `aud` names the mode already; the claim is checked as well (tokens are never good in the other mode).
      if (payload.mode !== mode) return { allowed: false, status: 403, problem: otpRequired(`The access token was not issued in ${mode} mode.`) };
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
      if (!scopes.includes(action)) return { allowed: false, status: 403, problem: otpRequired(`The access token does not authorize "${action}".`) };
      return { allowed: true, otp: { otpRequired: true, token: payload as JWTPayload & { scope: string } } };
    };
  }

  return async ({ session, identifier }) => {
    const key = JSON.stringify([session ?? '', action, identifier ?? '']);
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.expires > now) return { allowed: true, otp: hit.otp };
    if (hit) cache.delete(key);

    const res = await client.authorize(action, { session, identifier });
    if (res.ok) {
      const otp: OtpContext = res.data.otp_required ? { otpRequired: true, session: res.data.session } : { otpRequired: false };
      if (ttl > 0) {
        const sessionEnd = otp.session ? Date.parse(otp.session.expires_at) : Number.POSITIVE_INFINITY;
        const expires = Math.min(now + ttl, Number.isNaN(sessionEnd) ? now : sessionEnd);
        if (expires > now) {
          if (cache.size >= MAX_CACHE_ENTRIES) sweep(cache, now);
          cache.set(key, { expires, otp });
        }
      }
      return { allowed: true, otp };
    }
    const { problem } = res;
    if (problem.type === 'otp-required') return { allowed: false, status: 403, problem };
    // The end user's own input (a malformed identifier) or rate: pass the answer on.
    if (res.status === 400 || res.status === 429) return { allowed: false, status: res.status, problem };
    // otpgate down, 5xx, or a misconfiguration (bad key, unknown route): fail closed.
    return failClosed('The OTP gate could not be checked; try again later.');
  };
}

/**
 * The `aud` a token must carry: `<integration id>:<mode>`. An audience given with a mode suffix
 * already must name the client's mode.
 */
function expectedAudience(audience: string, mode: Mode): string {
  const suffixed = /^(.*):(test|live)$/.exec(audience);
  if (!suffixed) return `${audience}:${mode}`;
  if (suffixed[2] !== mode) throw new TypeError(`requireOtp: accessToken.audience names ${suffixed[2]} mode but the client's key is a ${mode} key`);
  return audience;
}

/** Drops expired entries; if none were, the oldest tenth (a Map iterates in insertion order). */
function sweep(cache: Map<string, { expires: number }>, now: number): void {
  for (const [key, entry] of cache) if (entry.expires <= now) cache.delete(key);
  if (cache.size < MAX_CACHE_ENTRIES) return;
  let drop = Math.ceil(MAX_CACHE_ENTRIES / 10);
  for (const key of cache.keys()) {
    if (drop-- <= 0) break;
    cache.delete(key);
  }
}
