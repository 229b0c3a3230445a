import { fail, ok, problem, type Result } from '../domain/errors.js';
import type { Channel } from '../domain/policy.js';
import { parseIdentifier } from '../domain/identifiers.js';
import { effectiveStatus, gateResend } from '../domain/verification.js';
import { findIdentityById } from '../store/identities-repo.js';
import {
  findVerification,
  recordResend,
  transitionFromPendingReturning,
  type VerificationRow,
} from '../store/verifications-repo.js';
import { preparedTransaction } from '../store/prepared.js';
import { listDeliveries } from '../store/deliveries-repo.js';
import type { ServiceDeps, Tenant } from './context.js';
import { guardSend } from './fraud-guard.js';
import { dispatch, enqueueDelivery } from './enqueue-delivery.js';
import { admitSend, requireOtpEnabled } from './guards.js';
import { presentVerification, type VerificationView } from './present-verification.js';
import { resolveTarget, type Target } from './resolve-target.js';
import { recordVerificationEvent } from './verification-events.js';

const notFound = () => fail<never>(problem('not-found', 'No verification has this id.'));

async function view(deps: ServiceDeps, tenant: Tenant, id: string): Promise<Result<VerificationView>> {
  const v = await findVerification(deps.store.db, tenant, id);
  if (!v) return notFound();
  return ok(presentVerification(v, await listDeliveries(deps.store.db, [v.id]), tenant.policy, deps.clock.now()));
}

/** Reading stays possible with OTP switched off: past verifications remain inspectable. */
export async function getVerification(deps: ServiceDeps, tenant: Tenant, id: string): Promise<Result<VerificationView>> {
  return view(deps, tenant, id);
}

/**
 * Where a resend goes. Without a channel: the verification's channel again, followed by the rest of
 * its `auto` route (re-resolved), so a channel that refused the number for good falls back as the
 * first send did. With a channel: that channel alone (a CPF through its identity).
 */
async function resendTarget(deps: ServiceDeps, tenant: Tenant, v: VerificationRow, channel: Channel | undefined): Promise<Result<Target>> {
  const same: Target = { identity: null, channel: v.channel as Channel, destination: v.destination ?? v.identifier, route: [] };
  const identity = v.identity_id ? await findIdentityById(deps.store.db, v.identity_id) : undefined;
  const parsed = parseIdentifier(v.identifier);
  if (!parsed.ok) return channel ? fail(problem('invalid-state', 'The verification’s identifier can no longer be parsed.')) : ok(same);
  if (channel) {
    const target = await resolveTarget(deps, tenant, parsed.identifier, channel, undefined, identity ?? undefined);
    return target.ok ? ok({ ...target.value, route: [] }) : target;
  }
  const auto = await resolveTarget(deps, tenant, parsed.identifier, 'auto', undefined, identity ?? undefined);
  if (!auto.ok) return ok(same);
  const steps = [{ channel: auto.value.channel, to: auto.value.destination }, ...auto.value.route];
  const at = steps.findIndex((step) => step.channel === same.channel && step.to === same.destination);
  return ok(at < 0 ? same : { ...same, route: steps.slice(at + 1) });
}

/** Sends the same code again (attempts are not reset), optionally on another channel. */
export async function resendVerification(deps: ServiceDeps, tenant: Tenant, id: string, channel?: Channel): Promise<Result<VerificationView>> {
  const enabled = requireOtpEnabled(tenant);
  if (!enabled.ok) return enabled;
  const v: VerificationRow | undefined = await findVerification(deps.store.db, tenant, id);
  if (!v) return notFound();
  const now = deps.clock.now();
  const gate = gateResend(v, tenant.policy, now);
  if (!gate.ok) return gate;
  const resolved = await resendTarget(deps, tenant, v, channel);
  const parsedForGuard = parseIdentifier(v.identifier);
  if (!resolved.ok) return resolved;
  const admitted = await admitSend(deps, tenant, v.identifier);
  if (!admitted.ok) return admitted;
  if (parsedForGuard.ok) {
    const guarded = await guardSend(deps, tenant, parsedForGuard.identifier);
    if (!guarded.ok) return guarded;
  }

  const cooldownStart = now - tenant.policy.limits.resend_cooldown_s * 1000;
  const sent = await deps.store.db.transaction().execute(async (trx) => {
    // Conditional on the state just checked, so two racing resends cannot both pass the gate.
    if (!(await recordResend(trx, v.id, tenant.policy.limits.max_sends, cooldownStart, now)) || !v.code_sealed) return null;
    const { message } = await enqueueDelivery(trx, deps, tenant, {
      verificationId: v.id,
      channel: resolved.value.channel,
      to: resolved.value.destination,
      locale: v.locale,
      country: v.country,
      route: resolved.value.route,
    });
    return message;
  });
  if (!sent) {
    const fresh = await findVerification(deps.store.db, tenant, id);
    const again = fresh ? gateResend(fresh, tenant.policy, deps.clock.now()) : notFound();
    return again.ok ? fail(problem('invalid-state', 'The verification changed while resending; try again.')) : again;
  }
  dispatch(deps, sent);
  deps.metrics.sendAccepted(resolved.value.channel, tenant.mode);
  return view(deps, tenant, id);
}

/** The conditional move to `canceled` and its `verification.canceled`, in one transaction; false when it was no longer pending. */
async function cancelRecorded(deps: ServiceDeps, tenant: Tenant, id: string, now: number): Promise<boolean> {
  return preparedTransaction(deps.store, async (trx) => {
    const row = await transitionFromPendingReturning(trx, id, { status: 'canceled', failure_reason: 'canceled', now });
    if (row) await recordVerificationEvent(trx, deps, 'verification.canceled', row, tenant.policy, now);
    return row !== undefined;
  });
}

export async function cancelVerification(deps: ServiceDeps, tenant: Tenant, id: string): Promise<Result<VerificationView>> {
  const enabled = requireOtpEnabled(tenant);
  if (!enabled.ok) return enabled;
  const v = await findVerification(deps.store.db, tenant, id);
  if (!v) return notFound();
  const now = deps.clock.now();
  const status = effectiveStatus(v, now);
  if (status !== 'pending' || !(await cancelRecorded(deps, tenant, v.id, now))) {
    return fail(problem('invalid-state', `The verification is ${status === 'pending' ? 'no longer pending' : status}; only a pending one can be canceled.`));
  }
  return view(deps, tenant, id);
}
