import { toIso } from '../domain/clock.js';
import { findIdentityById } from '../store/identities-repo.js';
import { findSessionById } from '../store/sessions-repo.js';
import { scopeFor } from '../tokens/access-token.js';
import type { CheckApproved } from './check-verification.js';
import type { ServiceDeps, Tenant } from './context.js';
import { presentIdentity } from './identities.js';

/**
 * The approval a check answered, rebuilt from the session it committed, for a retry of an
 * idempotent check whose answer was lost with its process. The credentials are not kept anywhere
 * (only the session's hash is stored): `credential` stands in their place, as in any replay.
 * Undefined when the session is not the tenant's (or no longer exists).
 */
export async function replayedApproval(deps: ServiceDeps, tenant: Tenant, sessionId: string, credential: string): Promise<CheckApproved | undefined> {
  const session = await findSessionById(deps.store.db, tenant, sessionId);
  if (!session) return undefined;
  const identity = session.identity_id ? await findIdentityById(deps.store.db, session.identity_id) : undefined;
  const approved: CheckApproved = {
    status: 'approved',
    verification_id: session.verification_id,
    identifier: session.identifier,
    action: session.action,
    otp_session: credential,
    session_expires_at: toIso(session.expires_at),
    expires_in: Math.round((session.expires_at - session.created_at) / 1000),
    identity: identity ? await presentIdentity(deps.store.db, identity) : null,
  };
  const policy = tenant.policy;
  if (!policy.access_token.enabled) return approved;
  return { ...approved, access_token: credential, token_type: 'Bearer', expires_in: policy.access_token.ttl_s, scope: scopeFor(session.action, policy) };
}
