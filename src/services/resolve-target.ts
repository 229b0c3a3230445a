import { fail, ok, problem, type Result } from '../domain/errors.js';
import type { Identifier } from '../domain/identifiers.js';
import type { Channel } from '../domain/policy.js';
import { resolveChannel, type RequestedChannel } from '../domain/verification.js';
import { findIdentitiesBy, findIdentityByReference, type IdentityRow } from '../store/identities-repo.js';
import type { RouteStep } from '../delivery/message-spec.js';
import type { ServiceDeps, Tenant } from './context.js';
import { isCostlyDestination } from './fraud-guard.js';
import { availableChannels } from './live-channels.js';

export interface Target {
  identity: IdentityRow | null;
  channel: Channel;
  /** Where the code goes: the identifier itself, or a CPF's (or fallback) phone or email. */
  destination: string;
  /** With `auto`: the channels to try next when this one fails, in the policy's order. */
  route: RouteStep[];
}

const noAddress = () => fail<never>(problem('no-delivery-address', 'There is no phone or email on file to deliver the code to.'));

/**
 * Decides who gets the code and how:
 * - `identity_reference` must name an identity of the integration (422 invalid-identity-reference);
 * - a CPF goes to its identity's phone or email, in the policy's channel order; no identity or no
 *   reachable address → 422 no-delivery-address, the same answer whether or not the CPF exists;
 * - a phone follows the policy's phone channels, then the identity's email as the last fallback;
 * - an email goes by email.
 */
export async function resolveTarget(
  deps: ServiceDeps,
  tenant: Tenant,
  identifier: Identifier,
  requested: RequestedChannel,
  reference: string | undefined,
  knownIdentity?: IdentityRow,
): Promise<Result<Target>> {
  const available = await availableChannels(deps, tenant);
  let identity: IdentityRow | null = knownIdentity ?? null;
  if (reference !== undefined) {
    identity = (await findIdentityByReference(deps.store.db, tenant, reference)) ?? null;
    if (!identity) return fail(problem('invalid-identity-reference', 'No identity has this reference.'));
  }

  if (identifier.kind === 'cpf') {
    // One look-up either way, so a CPF that exists and one that does not cost the same.
    const [holder] = await findIdentitiesBy(deps.store.db, tenant, 'cpf', identifier.value, 1);
    const owner = identity ? (identity.cpf === identifier.value ? identity : null) : (holder ?? null);
    if (!owner) return noAddress();
    // A live code never goes to a premium-rate, shared-cost or unassigned phone, even one on file.
    const phone = owner.phone !== null && !isCostlyDestination(tenant, owner.phone) ? owner.phone : null;
    const address = (c: Channel): string | null => (c === 'email' ? owner.email : phone);
    const order = requested === 'auto' ? tenant.policy.channels : [requested];
    if (requested !== 'auto' && !tenant.policy.channels.includes(requested)) return fail(problem('channel-unavailable', `Channel ${requested} is not enabled by the integration's policy.`));
    const steps = order.filter((c) => address(c) !== null && available(c)).map((c) => ({ channel: c, to: address(c) as string }));
    const [first, ...route] = steps;
    if (!first) return requested !== 'auto' && address(requested) !== null ? fail(problem('channel-unavailable', `Channel ${requested} has no provider configured.`)) : noAddress();
    return ok({ identity: owner, channel: first.channel, destination: first.to, route });
  }

  const direct = resolveChannel(identifier.kind, requested, tenant.policy, available);
  const emailFallback =
    identifier.kind === 'phone' && requested === 'auto' && identity?.email && tenant.policy.channels.includes('email') && available('email') ? identity.email : null;
  if (direct.ok) {
    // `auto`: every later channel of the policy that reaches the identifier, then the identity's email.
    const later = requested === 'auto' ? tenant.policy.channels.slice(tenant.policy.channels.indexOf(direct.value) + 1) : [];
    const route: RouteStep[] = later.filter((c) => c !== 'email' && identifier.kind === 'phone' && available(c)).map((c) => ({ channel: c, to: identifier.value }));
    if (emailFallback) route.push({ channel: 'email', to: emailFallback });
    return ok({ identity, channel: direct.value, destination: identifier.value, route });
  }
  if (emailFallback) return ok({ identity, channel: 'email', destination: emailFallback, route: [] });
  return direct;
}
