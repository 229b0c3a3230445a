import { createHmac } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Random } from '../domain/clock.js';
import { hmacKey } from '../domain/codes.js';
import { base62 } from '../domain/ids.js';
import type { Policy } from '../domain/policy.js';
import type { Mode } from '../store/tables.js';
import type { SigningKeyRing } from './signing-keys.js';

export interface IssuedAccessToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/** The claims otpgate puts in an access token (and a verifier may read). */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string;
  scope: string;
  mode: Mode;
  /** The OTP session (`ses_…`) the check opened: revoking it makes introspection answer inactive. */
  sid: string;
  iat: number;
  exp: number;
  jti: string;
}

/**
 * `aud`: the integration id and the mode (`int_…:live`, `int_…:test`), so that a verifier that
 * checks only the standard claims against one mode's audience refuses the other mode's tokens.
 */
export function audienceFor(integrationId: string, mode: Mode): string {
  return `${integrationId}:${mode}`;
}

/**
 * `sub` when there is no identity: a stable, non-reversible id of the identifier within the
 * integration and mode. Live: `sub_<32 hex>` (as before modes were told apart, so live subjects
 * stay stable); test: `sub_test_<32 hex>` from an input that includes the mode, so the same
 * identifier never has the same subject in both modes.
 */
export function subjectFor(serverSecret: Buffer, integrationId: string, mode: Mode, identifier: string): string {
  const input = mode === 'live' ? `sub:${integrationId}:${identifier}` : `sub:${integrationId}:${mode}:${identifier}`;
  const hash = createHmac('sha256', hmacKey(serverSecret)).update(input).digest('hex').slice(0, 32);
  return mode === 'live' ? `sub_${hash}` : `sub_${mode}_${hash}`;
}

/** The token's scope: the action, then the policy's extra scopes, space-separated (RFC 6749 style). */
export function scopeFor(action: string, policy: Policy): string {
  return [action, ...policy.access_token.scopes.filter((s) => s !== action)].join(' ');
}

/** An EdDSA (Ed25519) JWT with `iss sub aud scope mode sid iat exp jti` and the signing key's `kid`. */
export async function issueAccessToken(
  keys: SigningKeyRing,
  random: Random,
  input: { issuer: string; subject: string; integrationId: string; mode: Mode; sessionId: string; action: string; policy: Policy; nowMs: number },
): Promise<IssuedAccessToken> {
  const { kid, key } = await keys.signingKey();
  const iat = Math.floor(input.nowMs / 1000);
  const ttl = input.policy.access_token.ttl_s;
  const scope = scopeFor(input.action, input.policy);
  const access_token = await new SignJWT({ scope, mode: input.mode, sid: input.sessionId })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setSubject(input.subject)
    .setAudience(audienceFor(input.integrationId, input.mode))
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(`jti_${base62(random, 22)}`)
    .sign(key);
  return { access_token, token_type: 'Bearer', expires_in: ttl, scope };
}

/**
 * The claims of a token this server signed (a published key, EdDSA, `iss`), unexpired at `nowMs`
 * and issued to `integrationId` in `mode` (`aud` and the `mode` claim); else null. Tokens without
 * the claims introspection needs (`sid`, from before sessions were referenced) count as invalid.
 */
export async function verifyAccessToken(
  keys: SigningKeyRing,
  token: string,
  expected: { issuer: string; integrationId: string; mode: Mode; nowMs: number },
): Promise<AccessTokenClaims | null> {
  const jwks = createLocalJWKSet(await keys.jwks()); // a store failure is an error, not an inactive token
  try {
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ['EdDSA'],
      issuer: expected.issuer,
      audience: audienceFor(expected.integrationId, expected.mode),
      currentDate: new Date(expected.nowMs),
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
    });
    if (payload.mode !== expected.mode || typeof payload.sid !== 'string' || typeof payload.scope !== 'string') return null;
    return payload as AccessTokenClaims;
  } catch {
    return null;
  }
}
