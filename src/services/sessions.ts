import { sha256Hex } from '../domain/codes.js';
import { toIso, type Random } from '../domain/clock.js';
import { base62, base62Time } from '../domain/ids.js';
import { fail, ok, problem, type Result } from '../domain/errors.js';
import { requiresOtp } from '../domain/policy.js';
import { findIdentityById } from '../store/identities-repo.js';
import { findIntegration } from '../store/integrations-repo.js';
import { findSessionByHash, revokeSession, type SessionRow } from '../store/sessions-repo.js';
import type { Mode } from '../store/tables.js';
import { verifyAccessToken } from '../tokens/access-token.js';
import { presentIdentity, type IdentityView } from './identities.js';
import type { ServiceDeps, Tenant } from './context.js';
import { parseIdentifierField } from './guards.js';

export type AuthorizeAnswer =
  | { allowed: true; otp_required: false }
  | { allowed: true; otp_required: true; session: { identifier: string; identity: IdentityView | null; expires_at: string } };

export interface SessionView {
  id: string;
  identifier: string;
  identity: IdentityView | null;
  action: string;
  verification_id: string;
  expires_at: string;
  created_at: string;
}

const SESSION_SHAPE = /^otps_[0-9A-Za-z]{43}$/;
const otpRequired = (detail: string) => fail<never>(problem('otp-required', detail));

/**
 * A new OTP session token: `otps_`, 8 base62 characters of the issue time (ms), 35 random ones
 * (≈208 bits). The time part orders the stored keys (sessionKey), so the unique index they live in
 * grows at its end: with a fully random key every approval dirtied one more random index page,
 * two thirds of what a batch of approvals had to write.
 */
export function newSessionToken(random: Random, nowMs: number): string {
  return `otps_${base62Time(nowMs)}${base62(random, 35)}`;
}

/** What the store keeps (and caches under) for a token: its time part, then its SHA-256. Never the token. */
export function sessionKey(token: string): string {
  return `${token.slice(5, 13)}.${sha256Hex(token)}`;
}

/** The row for a token: stored under sessionKey, or (sessions issued before it) under its bare SHA-256. */
async function findSessionByToken(deps: ServiceDeps, token: string, key: string): Promise<SessionRow | undefined> {
  return (await findSessionByHash(deps.store.db, key)) ?? findSessionByHash(deps.store.db, sha256Hex(token));
}

/**
 * The session a token stands for, if it is valid for this tenant now: one cached or indexed read,
 * then the checks (same integration and mode, not revoked, not expired).
 */
async function validSession(deps: ServiceDeps, tenant: Tenant, token: string | undefined): Promise<SessionRow | null> {
  if (!token || !SESSION_SHAPE.test(token)) return null;
  const key = sessionKey(token);
  let row = await deps.sessionCache.get(key);
  if (!row) {
    row = await findSessionByToken(deps, token, key);
    if (row && row.revoked_at === null) await deps.sessionCache.set(key, row);
  }
  if (!row || row.revoked_at !== null) return null;
  if (row.integration_id !== tenant.integrationId || row.mode !== tenant.mode) return null;
  if (row.expires_at <= deps.clock.now()) return null;
  return row;
}

/** May the integrator's app perform `action` now? (API.md "Policy and the OTP gate") */
export async function authorize(
  deps: ServiceDeps,
  tenant: Tenant,
  input: { action: string; identifier?: string },
  token: string | undefined,
): Promise<Result<AuthorizeAnswer>> {
  let identifier: string | null = null;
  if (input.identifier !== undefined) {
    const parsed = parseIdentifierField(input.identifier);
    if (!parsed.ok) return parsed;
    identifier = parsed.value.value;
  }
  // An integration with OTP switched off gates nothing (its app has its own login).
  if (!tenant.policy.otp_enabled || !requiresOtp(tenant.policy, input.action)) return ok({ allowed: true, otp_required: false });
  const session = await validSession(deps, tenant, token);
  if (!session) return otpRequired(`Action ${input.action} needs a valid OTP session (X-OTP-Session).`);
  if (identifier !== null && session.identifier !== identifier) return otpRequired('The OTP session was issued for another identifier.');
  return ok({
    allowed: true,
    otp_required: true,
    session: { identifier: session.identifier, identity: await identityOf(deps, session), expires_at: toIso(session.expires_at) },
  });
}

/** The session's identity as it is now (a merge since the check is followed to the survivor). */
async function identityOf(deps: ServiceDeps, row: SessionRow): Promise<IdentityView | null> {
  if (row.identity_id === null) return null;
  const identity = await findIdentityById(deps.store.db, row.identity_id);
  return identity ? presentIdentity(deps.store.db, identity) : null;
}

async function present(deps: ServiceDeps, row: SessionRow): Promise<SessionView> {
  return {
    id: row.id,
    identifier: row.identifier,
    identity: await identityOf(deps, row),
    action: row.action,
    verification_id: row.verification_id,
    expires_at: toIso(row.expires_at),
    created_at: toIso(row.created_at),
  };
}

export async function currentSession(deps: ServiceDeps, tenant: Tenant, token: string | undefined): Promise<Result<SessionView>> {
  const row = await validSession(deps, tenant, token);
  return row ? ok(await present(deps, row)) : otpRequired('No valid OTP session in X-OTP-Session.');
}

/**
 * Revokes the session in X-OTP-Session. The database row is the truth and is read directly; the
 * cache entry is dropped every time, even for a session already revoked (a retry drops an entry a
 * first attempt could not).
 */
export async function revokeCurrentSession(deps: ServiceDeps, tenant: Tenant, token: string | undefined): Promise<Result<{ id: string; revoked: true }>> {
  if (!token || !SESSION_SHAPE.test(token)) return otpRequired('No valid OTP session in X-OTP-Session.');
  const key = sessionKey(token);
  const row = await findSessionByToken(deps, token, key);
  if (!row || row.integration_id !== tenant.integrationId || row.mode !== tenant.mode) return otpRequired('No valid OTP session in X-OTP-Session.');
  const live = row.revoked_at === null && row.expires_at > deps.clock.now();
  if (live) await revokeSession(deps.store.db, row.id, deps.clock.now());
  await deps.sessionCache.delete(key);
  return live ? ok({ id: row.id, revoked: true }) : otpRequired('No valid OTP session in X-OTP-Session.');
}

/** RFC 7662's answer for an access token: only `active` when it is not (nothing about why). */
export type TokenIntrospection =
  | { active: false }
  | { active: true; scope: string; sub: string; aud: string; exp: number; iat: number; mode: Mode; client_id: string };

const INACTIVE: TokenIntrospection = { active: false };

/**
 * Is this access token good now for the calling key's integration and mode (RFC 7662)? Active only
 * when it was signed by a published key with this server's `iss`, has not expired, names this
 * integration and mode (`aud` and `mode`), its OTP session (`sid`) exists for the same integration
 * and mode and is not revoked, and the integration is not deleted. A token of the other mode or of
 * another integration is simply inactive.
 */
export async function introspectToken(deps: ServiceDeps, tenant: Tenant, token: string): Promise<TokenIntrospection> {
  const claims = await verifyAccessToken(deps.signingKeys, token, {
    issuer: deps.issuer,
    integrationId: tenant.integrationId,
    mode: tenant.mode,
    nowMs: deps.clock.now(),
  });
  if (!claims) return INACTIVE;
  const session = await deps.store.db.selectFrom('sessions').select(['integration_id', 'mode', 'revoked_at']).where('id', '=', claims.sid).executeTakeFirst();
  if (!session || session.revoked_at !== null || session.integration_id !== tenant.integrationId || session.mode !== tenant.mode) return INACTIVE;
  // The key cache may still know a key of an integration deleted from another process: ask the store.
  if (!(await findIntegration(deps.store.db, tenant.integrationId))) return INACTIVE;
  return {
    active: true,
    scope: claims.scope,
    sub: claims.sub,
    aud: claims.aud,
    exp: claims.exp,
    iat: claims.iat,
    mode: claims.mode,
    client_id: tenant.integrationId,
  };
}
