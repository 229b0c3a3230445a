import { codeMatches } from '../domain/codes.js';
import { toIso } from '../domain/clock.js';
import { fail, ok, problem, tooMany, type Result } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { parseIdentifier } from '../domain/identifiers.js';
import { afterWrongCode, gateCheck } from '../domain/verification.js';
import { IDEMPOTENT_RESOURCE, recordResource, type IdempotencyClaim } from '../store/idempotency-repo.js';
import { preparedTransaction, type QueryRunner } from '../store/prepared.js';
import { insertSession } from '../store/sessions-repo.js';
import {
  approveIfUnchanged,
  findLatestWithDeliveries,
  findLatestWithDeliveriesBatched,
  isNothingApproved,
  type VerificationRow,
  type VerificationWithDeliveries,
  findVerification,
  type CheckableVerification,
} from '../store/verifications-repo.js';
import { findIdentityById, lockIdentities } from '../store/identities-repo.js';
import { issueAccessToken, subjectFor } from '../tokens/access-token.js';
import { presentIdentity, type IdentityView } from './identities.js';
import { noteApproval } from './fraud-guard.js';
import { recordVerifiedAddress } from './identity-merge.js';
import { identifierKey, type CheckOutcome, type ServiceDeps, type Tenant } from './context.js';
import { newSessionToken, sessionKey } from './sessions.js';
import { lockedRefusal, parseIdentifierField, requireOtpEnabled } from './guards.js';
import type { FailureRule } from '../limits/limits.js';
import { markApproved, recordWrongAttempt } from './check-outcomes.js';
import { recordVerificationEvent } from './verification-events.js';
import { expireNoticed } from './expiry-sweeper.js';
import { recordIdentifierLocked } from './lockout-event.js';

export interface CheckInput {
  identifier?: string;
  verification_id?: string;
  code: string;
}

export interface CheckApproved {
  status: 'approved';
  verification_id: string;
  identifier: string;
  action: string;
  otp_session: string;
  session_expires_at: string;
  expires_in: number;
  identity: IdentityView | null;
  access_token?: string;
  token_type?: 'Bearer';
  scope?: string;
}

/**
 * Checks a code against the identifier's latest verification.
 *
 * Race reasoning: the comparison reads a hash that never changes, so any number of concurrent checks
 * may compare; only the conditional UPDATE `status = 'pending' → 'approved'` decides, and the store
 * applies it to one row at a time, so exactly one right-code check wins and the others find the
 * verification no longer pending (404). Wrong codes add to `attempts` with one atomic increment, so
 * concurrent wrong guesses cannot share an attempt.
 * With an Idempotency-Key claim, an approval's session is recorded on it in the approval's transaction.
 */
export async function checkVerification(deps: ServiceDeps, tenant: Tenant, input: CheckInput, claim?: IdempotencyClaim): Promise<Result<CheckApproved>> {
  const result = await check(deps, tenant, input, claim);
  deps.metrics.check(outcomeOf(result), tenant.mode);
  return result;
}

async function check(deps: ServiceDeps, tenant: Tenant, input: CheckInput, claim: IdempotencyClaim | undefined): Promise<Result<CheckApproved>> {
  const enabled = requireOtpEnabled(tenant);
  if (!enabled.ok) return enabled;
  const policy = tenant.policy;

  let verification: CheckableVerification | undefined;
  let identifier: string;
  if (input.verification_id !== undefined) {
    verification = await findVerification(deps.store.db, tenant, input.verification_id);
    if (!verification) return fail(problem('not-found', 'No verification has this id.'));
    identifier = verification.identifier;
  } else {
    const parsed = parseIdentifierField(input.identifier ?? '');
    if (!parsed.ok) return parsed;
    identifier = parsed.value.value;
  }

  const key = identifierKey(tenant, identifier);
  // A failure is reserved before the code is compared (with the admission: one step), so that however
  // many checks run at once, at most lockout.max_failures wrong codes are compared per window; a right
  // code, or a check that compares nothing, gives it back.
  const rule: FailureRule = { maxFailures: policy.lockout.max_failures, windowS: policy.lockout.window_s, durationS: policy.lockout.duration_s };
  // The latest verification is read while the limits are asked; a refusal leaves the read unused. On
  // Postgres + Redis: two servers at once instead of one after the other; on Postgres alone: the
  // limit step and the read in one round trip. The read brings the whole row and its deliveries: what
  // `verification.approved` shows, so a right code is approved without reading them again (on
  // Postgres in one more round trip; approveUnchanged).
  let latest: Promise<CheckableVerification | undefined>;
  let admitted: Awaited<ReturnType<typeof deps.limits.admitCheck>>;
  if (!verification && deps.store.dialect === 'postgres' && deps.limits.admitCheckAlong) {
    const both = await deps.limits.admitCheckAlong((runner) => findLatestWithDeliveries(runner, tenant, identifier), key, policy.limits.check_per_minute, 60, rule);
    latest = Promise.resolve(both.read);
    admitted = both;
  } else {
    latest = verification
      ? Promise.resolve(verification)
      : deps.store.dialect === 'postgres'
        ? findLatestWithDeliveriesBatched(deps.store.db, tenant, identifier) // with the other checks of this turn
        : findLatestWithDeliveries(deps.store.db, tenant, identifier);
    latest.catch(() => {}); // awaited below, unless a limit refuses first
    admitted = await deps.limits.admitCheck(key, policy.limits.check_per_minute, 60, rule);
  }
  const { admission, reservation } = admitted;
  if (!admission.ok) {
    if (admission.locked) return lockedRefusal(admission.msLeft);
    return fail(tooMany('rate-limit-exceeded', `At most ${policy.limits.check_per_minute} checks a minute are allowed for one identifier.`, admission.msBeforeNext));
  }
  const giveBack = (): Promise<void> => (reservation?.ok ? deps.limits.settleReservation(key, rule, false) : Promise.resolve());
  try {
    verification = await latest;
  } catch (error) {
    await giveBack();
    throw error;
  }

  const now = deps.clock.now();
  if (!verification) {
    await giveBack();
    return fail(problem('not-found', 'No pending verification for this identifier.'));
  }
  const gate = gateCheck(verification, now);
  if (!gate.compare) {
    await giveBack();
    if (gate.problem.type === 'code-expired') await expireNoticed(deps, tenant, verification.id, now);
    return fail(gate.problem);
  }

  const slot = reservation?.ok ? ok({ last: reservation.last }) : await waitForFailureSlot(deps, tenant, key, rule, verification.id, identifier);
  if (!slot.ok) return slot;

  if (codeMatches(deps.serverSecret, verification.id, input.code, verification.code_hash)) {
    // Once the approval is written (or lost), the reserved failure is settled: an approval resets the
    // budget, a lost race or a failed write gives the failure back.
    // On Postgres alone the reset is written in the approval's transaction (no round trip of its own).
    const resetIn = deps.limits.resetFailuresIn?.bind(deps.limits);
    const reset = resetIn ? (trx: QueryRunner) => resetIn(trx, key) : undefined;
    let approved = false;
    try {
      const result = await approve(deps, tenant, verification, now, claim, reset);
      approved = result.ok;
      return result;
    } finally {
      if (!(approved && reset)) await deps.limits.settleReservation(key, rule, approved);
    }
  }

  // The wrong code was compared: it keeps its failure, and the last one locks, even when it lost a race.
  const lockedNow = slot.value.last;
  const wrong = await recordWrongAttempt(deps, tenant, verification.id, now, lockedNow ? { identifier, rule } : null);
  if (lockedNow) await deps.limits.lock(key, rule);
  // A concurrent check used the last attempt (or approved it) between our read and this write.
  if (!wrong) return refusalAfterRace(deps, tenant, verification.id);
  const decision = afterWrongCode(wrong.attempts, verification.max_attempts, policy);
  return fail(
    problem('invalid-code', decision.fails ? 'The code is not correct; request a new one.' : 'The code is not correct.', {
      attempts_remaining: decision.attemptsRemaining,
      ...(lockedNow ? { identifier_locked: true, lock_duration: policy.lockout.duration_s } : {}),
    }),
  );
}

/** How long a check waits for failures reserved by concurrent checks to resolve (lock, or give back). */
const RESERVE_WAIT_MS = 5_000;

/**
 * Reserves one failure of the identifier's budget before a comparison, after the admission found it
 * spent: the checks holding it are still comparing or one of them locks. This waits, re-reading, until the lock
 * is set (429 identifier-locked), the verification is no longer pending (what it says now: a right
 * code approved it, or wrong ones failed it), or a failure was given back (then reserves again).
 * Never compares without a reservation. Should nothing resolve in time (a holder crashed, or refused
 * reservations overcounted), the identifier is locked: the budget is spent either way.
 */
async function waitForFailureSlot(deps: ServiceDeps, tenant: Tenant, key: string, rule: FailureRule, id: string, identifier: string): Promise<Result<{ last: boolean }>> {
  const started = performance.now();
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    const lock = await deps.limits.lockStatus(key);
    if (lock.locked) return lockedRefusal(lock.msLeft);
    const gate = gateCheck(await findVerification(deps.store.db, tenant, id), deps.clock.now());
    if (!gate.compare) return fail(gate.problem);
    if (performance.now() - started >= RESERVE_WAIT_MS) {
      await deps.limits.lock(key, rule);
      // Rare (a holder crashed): each check that times out here at once records the lock it started.
      const now = deps.clock.now();
      await preparedTransaction(deps.store, (trx) => recordIdentifierLocked(trx, deps, tenant, { identifier, verificationId: id, rule, now }));
      return lockedRefusal(rule.durationS * 1000);
    }
    await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
    if (await deps.limits.failureRoom(key, rule)) {
      const again = await deps.limits.reserveFailure(key, rule);
      if (again.ok) return ok({ last: again.last });
    }
  }
}

/**
/** The approvals write only through their transaction: they may share a Postgres group commit (and run twice). */
const GROUPABLE = { groupable: {} };

/**
 * When the check's read brought the deliveries: the approval, its event (built from that read) and
 * `rest` (the session) in one transaction (on Postgres one round trip; on the embedded store three
 * statements, no read), the approval conditional on the verification and its deliveries being still
 * as read. Answers { identityId: null } once committed, or undefined when anything changed meanwhile
 * (a wrong code counted, a receipt, another check's approval): nothing was written then, and the
 * general path decides with what is there now.
 */
async function approveUnchanged(
  deps: ServiceDeps,
  tenant: Tenant,
  v: CheckableVerification,
  now: number,
  rest: (trx: QueryRunner) => Promise<void>,
): Promise<{ identityId: null } | undefined> {
  if (!('deliveries' in v)) return undefined;
  const seen = v as VerificationWithDeliveries;
  const approved: VerificationRow = { ...seen, status: 'approved', failure_reason: null, code_sealed: null, updated_at: now };
  try {
    return await preparedTransaction(deps.store, async (trx) => {
      await approveIfUnchanged(trx, seen, now);
      await recordVerificationEvent(trx, deps, 'verification.approved', approved, tenant.policy, now, { deliveries: seen.deliveries });
      await rest(trx);
      return { identityId: null };
    }, GROUPABLE);
  } catch (error) {
    if (isNothingApproved(error)) return undefined;
    throw error;
  }
}

/** `reset`: writes the failures' reset in the approval's transaction (Postgres alone); otherwise the caller settles after. */
async function approve(
  deps: ServiceDeps,
  tenant: Tenant,
  v: CheckableVerification,
  now: number,
  claim: IdempotencyClaim | undefined,
  reset: ((trx: QueryRunner) => Promise<void>) | undefined,
): Promise<Result<CheckApproved>> {
  const token = newSessionToken(deps.random, now); // only sessionKey(token) is stored
  const expiresAt = now + tenant.policy.session.ttl_s * 1000;
  const sessionId = newId('ses', deps.random); // also the access token's `sid`
  const session = (identityId: string | null) => ({
    id: sessionId,
    integration_id: tenant.integrationId,
    mode: tenant.mode,
    token_hash: sessionKey(token),
    identifier: v.identifier,
    identity_id: identityId,
    verification_id: v.id,
    action: v.action,
    expires_at: expiresAt,
    revoked_at: null,
    created_at: now,
  });
  const identityId = v.identity_id;
  const won = identityId
    ? await deps.store.db.transaction().execute(async (trx) => {
        // Identity writes take the integration's identity lock first, before any row lock, so that two
        // approvals that merge each other's identities queue up instead of deadlocking.
        await lockIdentities(trx, tenant, deps.store.dialect === 'postgres');
        if (!(await markApproved(trx, deps, tenant, v.id, now))) return false;
        // A proved email or phone is written onto the identity as verified (merging on a collision).
        const survivor =
          v.destination === null && (v.identifier_kind === 'email' || v.identifier_kind === 'phone')
            ? await recordVerifiedAddress(trx, deps, tenant, identityId, v.identifier_kind, v.identifier, now)
            : identityId;
        await insertSession(trx, session(survivor));
        if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.session, sessionId);
        if (reset) await reset(trx);
        return { identityId: survivor };
      })
    : ((await approveUnchanged(deps, tenant, v, now, async (trx) => {
        await insertSession(trx, session(null));
        if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.session, sessionId);
        if (reset) await reset(trx);
      })) ??
      // No identity: two prepared statements, in the store's lightest transaction.
      (await preparedTransaction(deps.store, async (trx) => {
        if (!(await markApproved(trx, deps, tenant, v.id, now))) return false;
        await insertSession(trx, session(null));
        if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.session, sessionId);
        if (reset) await reset(trx);
        return { identityId: null };
      }, GROUPABLE)));
  // Lost a race: another check approved it, or wrong guesses used its last attempt first.
  if (!won) return refusalAfterRace(deps, tenant, v.id);
  if (tenant.mode === 'live' && (v.identifier_kind === 'phone' || v.destination !== null)) {
    // The phone the code went to: the identifier, or a CPF's phone on file (an email is no phone).
    const parsed = parseIdentifier(v.destination ?? v.identifier);
    if (parsed.ok) await noteApproval(deps, tenant, parsed.identifier);
  }
  const approved: CheckApproved = {
    status: 'approved',
    verification_id: v.id,
    identifier: v.identifier,
    action: v.action,
    otp_session: token,
    session_expires_at: toIso(expiresAt),
    expires_in: tenant.policy.session.ttl_s,
    identity: await identityView(deps, won.identityId),
  };
  if (!tenant.policy.access_token.enabled) return ok(approved);
  // PayU-style bearer token; `expires_in` then counts down to the token's expiry (API.md).
  const issued = await issueAccessToken(deps.signingKeys, deps.random, {
    issuer: deps.issuer,
    subject: won.identityId ?? subjectFor(deps.serverSecret, tenant.integrationId, tenant.mode, v.identifier),
    integrationId: tenant.integrationId,
    mode: tenant.mode,
    sessionId,
    action: v.action,
    policy: tenant.policy,
    nowMs: now,
  });
  return ok({ ...approved, ...issued });
}

/** The answer for a check that lost a race: what the verification's state says now. */
async function refusalAfterRace(deps: ServiceDeps, tenant: Tenant, id: string): Promise<Result<never>> {
  const gate = gateCheck(await findVerification(deps.store.db, tenant, id), deps.clock.now());
  return fail(gate.compare ? problem('not-found', 'This verification was already used.') : gate.problem);
}

async function identityView(deps: ServiceDeps, identityId: string | null): Promise<IdentityView | null> {
  const row = identityId ? await findIdentityById(deps.store.db, identityId) : undefined;
  return row ? presentIdentity(deps.store.db, row) : null;
}

function outcomeOf(result: Result<CheckApproved>): CheckOutcome {
  if (result.ok) return 'approved';
  switch (result.problem.type) {
    case 'invalid-code':
      return 'invalid_code';
    case 'code-expired':
      return 'expired';
    case 'max-attempts-reached':
      return 'max_attempts';
    case 'identifier-locked':
      return 'locked';
    case 'rate-limit-exceeded':
      return 'rate_limited';
    default:
      return 'not_found';
  }
}
