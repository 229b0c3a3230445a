import { BillingRefusal, chargeSend, sendIsCharged } from '../billing/send-charge.js';
import { generateCode, hashCode, seal } from '../domain/codes.js';
import { fail, ok, problem, type Result } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { RequestedChannel } from '../domain/verification.js';
import { IDEMPOTENT_RESOURCE, recordResource, type IdempotencyClaim } from '../store/idempotency-repo.js';
import { preparedTransaction } from '../store/prepared.js';
import { cancelPendingFor, hasPending, identifierLockKey, insertVerification, lockIdentifier, type VerificationRow } from '../store/verifications-repo.js';
import { identifierKey, type ServiceDeps, type Tenant } from './context.js';
import { dispatch, enqueueDelivery } from './enqueue-delivery.js';
import { guardApplies, guardSend, phoneOf, refuseCostlyNumbers } from './fraud-guard.js';
import { admitSend, parseIdentifierField, requireOtpEnabled, sendAdmission } from './guards.js';
import { presentVerification, type VerificationView } from './present-verification.js';
import { recordEvent } from './record-event.js';
import { recordVerificationEvent } from './verification-events.js';
import { resolveTarget } from './resolve-target.js';

export interface RequestVerificationInput {
  identifier: string;
  channel?: RequestedChannel;
  action?: string;
  identity_reference?: string;
  locale?: string;
}

/**
 * Sends a code: validates against the policy, then in one transaction supersedes the identifier's
 * pending verification, stores the new one (code only as an HMAC, plus sealed for delivery and
 * resend) and queues its message in the outbox. The 201 follows the commit. With an Idempotency-Key
 * claim, the new verification is recorded on it in the same transaction (see recordResource).
 * With billing on, a live send debits its price first in that transaction (billing/send-charge.ts);
 * a balance that does not cover it → 402 `insufficient-balance`, the transaction rolled back.
 * The transaction may share a Postgres group commit with other sends (pg-group-commit.ts); on
 * Postgres alone the rate limit's admission is one of its statements (Limits.admitIn).
 */
export async function requestVerification(deps: ServiceDeps, tenant: Tenant, input: RequestVerificationInput, claim?: IdempotencyClaim): Promise<Result<VerificationView>> {
  const enabled = requireOtpEnabled(tenant);
  if (!enabled.ok) return enabled;
  const parsed = parseIdentifierField(input.identifier);
  if (!parsed.ok) return parsed;
  const identifier = parsed.value;
  const policy = tenant.policy;

  if (identifier.kind === 'phone' && policy.allowed_countries !== null && !policy.allowed_countries.includes(identifier.country ?? '')) {
    return fail(problem('forbidden-country', `Sending to ${identifier.country ?? 'this number'} is not allowed by the integration's policy.`));
  }
  const costly = refuseCostlyNumbers(tenant, identifier);
  if (!costly.ok) return costly;
  const target = await resolveTarget(deps, tenant, identifier, input.channel ?? 'auto', input.identity_reference);
  if (!target.ok) return target;
  const { channel, destination, identity, route } = target.value;

  // The guard judges the phone the code goes to: the identifier, or a CPF's phone on file.
  const guardedPhone = channel === 'email' ? identifier : phoneOf(destination, identifier);
  // On Postgres alone, when the fraud guard has nothing to judge, the admission is a statement of the
  // send's transaction (in its first round trip); otherwise it comes first, then the guard, as always.
  const admitIn = deps.store.dialect === 'postgres' && !guardApplies(tenant, guardedPhone) ? deps.limits.admitIn?.bind(deps.limits) : undefined;
  if (!admitIn) {
    const admitted = await admitSend(deps, tenant, identifier.value);
    if (!admitted.ok) return admitted;
  }
  const guarded = await guardSend(deps, tenant, guardedPhone);
  if (!guarded.ok) return guarded;

  const now = deps.clock.now();
  const id = newId('ver', deps.random);
  const code = generateCode(deps.random, policy.code.length);
  const row: VerificationRow = {
    id,
    integration_id: tenant.integrationId,
    mode: tenant.mode,
    identifier: identifier.value,
    identifier_kind: identifier.kind,
    country: identifier.country,
    channel,
    action: input.action ?? 'sign_in',
    locale: input.locale ?? null,
    status: 'pending',
    failure_reason: null,
    code_hash: hashCode(deps.serverSecret, id, code),
    code_sealed: seal(deps.serverSecret, deps.random, code),
    code_length: policy.code.length,
    attempts: 0,
    max_attempts: policy.checks.max_attempts,
    sends: 1,
    expires_at: now + policy.code.ttl_s * 1000,
    last_sent_at: now,
    created_at: now,
    updated_at: now,
    identity_id: identity?.id ?? null,
    destination: destination === identifier.value ? null : destination,
  };
  const charged = sendIsCharged(tenant); // billing off: no query of its own on the send path
  let sent: Awaited<ReturnType<typeof enqueueDelivery>> | Result<never>;
  try {
    sent = await preparedTransaction(deps.store, async (trx) => {
      await lockIdentifier(trx, tenant, identifier.value, deps.store.dialect === 'postgres');
      // Asked together: the look for a pending verification and (Postgres alone) the admission share a round trip.
      const pending = hasPending(trx, tenant, identifier.value);
      pending.catch(() => {}); // awaited below, unless a refusal comes first
      if (admitIn) {
        const admitted = sendAdmission(tenant, await admitIn(trx, 'send', identifierKey(tenant, identifier.value), policy.limits.send_per_minute, 60));
        if (!admitted.ok) return admitted; // committed with only its count, as a refused send is counted
      }
      // The debit before any write: a refusal (BillingRefusal, 402) rolls the transaction back with nothing stored.
      if (charged) await chargeSend(trx, deps, tenant, { verificationId: id, channel, country: row.country });
      // Events in the same transaction: the superseded one's (canceled, or expired when it had lapsed), then the new one's.
      for (const old of await cancelPendingFor(trx, tenant, identifier.value, now, pending)) {
        await recordVerificationEvent(trx, deps, old.status === 'expired' ? 'verification.expired' : 'verification.canceled', old, policy, now);
      }
      await insertVerification(trx, row);
      if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.verification, id);
      const queued = await enqueueDelivery(trx, deps, tenant, { verificationId: id, channel, to: destination, locale: row.locale, country: row.country, route });
      await recordEvent(trx, deps, tenant, 'verification.created', presentVerification(row, [queued.delivery], policy, now), now); // one prepared INSERT
      return queued;
    }, { groupable: { lockKey: identifierLockKey(tenant, identifier.value) } }); // it writes only through trx
  } catch (error) {
    if (error instanceof BillingRefusal) return fail(error.problem); // nothing stored, nothing sent
    throw error;
  }
  if ('ok' in sent) return sent; // refused by the admission in the transaction
  const { delivery, message } = sent;
  dispatch(deps, message);
  deps.metrics.sendAccepted(channel, tenant.mode);
  return ok(presentVerification(row, [delivery], policy, now));
}
