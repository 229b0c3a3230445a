import { findIdentityById, findVerifiedHolder, lockIdentities, mergeIdentities, updateIdentity } from '../store/identities-repo.js';
import type { Executor } from '../store/tables.js';
import type { ServiceDeps, Tenant } from './context.js';
import { presentIdentity } from './identities.js';
import { recordEvent } from './record-event.js';

/**
 * Writes an address a verification just proved onto its identity as verified, and merges when
 * another identity of the integration already holds it verified (Banxa's rule): the newer identity's
 * references move onto the older one (earlier `created_at`), the newer is removed, the older one's
 * state governs, and `identity.merged` is recorded (the survivor as the API shows it). Runs inside
 * the approving transaction, under the integration's identity lock, so verifications racing to merge
 * produce one survivor.
 * Returns the id of the identity the verification now belongs to.
 */
export async function recordVerifiedAddress(
  trx: Executor,
  deps: ServiceDeps,
  tenant: Tenant,
  identityId: string,
  field: 'email' | 'phone',
  value: string,
  now: number,
): Promise<string> {
  await lockIdentities(trx, tenant, deps.store.dialect === 'postgres');
  const identity = await findIdentityById(trx, identityId); // follows a merge that happened meanwhile
  if (!identity) return identityId;
  await updateIdentity(trx, identity.id, field === 'email' ? { email: value, email_verified_at: now, updated_at: now } : { phone: value, phone_verified_at: now, updated_at: now });
  const other = await findVerifiedHolder(trx, tenant, field, value, identity.id);
  if (!other) return identity.id;
  const [older, newer] = other.created_at < identity.created_at || (other.created_at === identity.created_at && other.id < identity.id) ? [other, identity] : [identity, other];
  const moved = await mergeIdentities(trx, older.id, newer.id, now);
  // The data: the surviving identity as the API shows it now (references included), and what merged into it.
  const survivor = await findIdentityById(trx, older.id);
  const shown = survivor ? await presentIdentity(trx, survivor) : { id: older.id };
  await recordEvent(trx, deps, tenant, 'identity.merged', { ...shown, survivor_id: older.id, merged_id: newer.id, references_moved: moved }, now);
  return older.id;
}
