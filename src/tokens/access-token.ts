import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Random } from '../domain/clock.js';
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

/** `sub` when there is no identity: a stable, non-reversible id of the identifier within the integration. */
export function subjectFor(serverSecret: Buffer, integrationId: string, identifier: string): string {
  return `sub_${createHmac('sha256', serverSecret).update(`sub:${integrationId}:${identifier}`).digest('hex').slice(0, 32)}`;
}

/** The token's scope: the action, then the policy's extra scopes, space-separated (RFC 6749 style). */
export function scopeFor(action: string, policy: Policy): string {
  return [action, ...policy.access_token.scopes.filter((s) => s !== action)].join(' ');
}

/** An EdDSA (Ed25519) JWT with `iss sub aud scope iat exp jti` and the signing key's `kid`. */
export async function issueAccessToken(
  keys: SigningKeyRing,
  random: Random,
  input: { issuer: string; subject: string; integrationId: string; mode: Mode; action: string; policy: Policy; nowMs: number },
): Promise<IssuedAccessToken> {
  const { kid, key } = await keys.signingKey();
  const iat = Math.floor(input.nowMs / 1000);
  const ttl = input.policy.access_token.ttl_s;
  const scope = scopeFor(input.action, input.policy);
  const access_token = await new SignJWT({ scope, mode: input.mode })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setSubject(input.subject)
    .setAudience(input.integrationId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(`jti_${base62(random, 22)}`)
    .sign(key);
  return { access_token, token_type: 'Bearer', expires_in: ttl, scope };
}
