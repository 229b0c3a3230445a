import { fail, ok, problem, tooMany, validationProblem, type Result } from './errors.js';
import type { IdentifierKind } from './identifiers.js';
import type { Channel, Policy } from './policy.js';

/**
 * The verification state machine, pure: every decision here takes the current state, the policy and
 * `now`, and returns what to do. The services apply the decision with one atomic store operation.
 *
 *   pending ──right code──▶ approved
 *      │ ├──wrong code, attempts left──▶ pending (attempts + 1)
 *      │ ├──wrong code, none left or on_wrong_code=restart──▶ failed
 *      │ ├──new request for the identifier / cancel──▶ canceled
 *      │ └──now ≥ expires_at──▶ expired
 */
export type VerificationStatus = 'pending' | 'approved' | 'canceled' | 'expired' | 'failed';
export type RequestedChannel = Channel | 'auto';

export type FailureReason = 'superseded' | 'canceled' | 'expired' | 'max_attempts_reached' | 'wrong_code';

export interface VerificationState {
  status: string;
  failure_reason: string | null;
  attempts: number;
  max_attempts: number;
  sends: number;
  expires_at: number;
  last_sent_at: number;
}

/** `pending` past its expiry reads as `expired` even before anything writes it. */
export function effectiveStatus(v: Pick<VerificationState, 'status' | 'expires_at'>, now: number): VerificationStatus {
  if (v.status === 'pending' && now >= v.expires_at) return 'expired';
  return v.status as VerificationStatus;
}

export function effectiveFailureReason(v: Pick<VerificationState, 'status' | 'expires_at' | 'failure_reason'>, now: number): string | null {
  return effectiveStatus(v, now) === 'expired' ? 'expired' : v.failure_reason;
}

export function resendAvailableAt(v: Pick<VerificationState, 'last_sent_at'>, policy: Policy): number {
  return v.last_sent_at + policy.limits.resend_cooldown_s * 1000;
}

const PHONE_CHANNELS: readonly Channel[] = ['whatsapp', 'sms'];

/**
 * Picks the channel for a send. `auto`: a phone goes through the policy's channel order (phone
 * channels only), an email goes by email. A named channel must suit the identifier, be allowed by the
 * policy and have a provider (`available`).
 */
export function resolveChannel(
  kind: IdentifierKind,
  requested: RequestedChannel,
  policy: Policy,
  available: (channel: Channel) => boolean,
): Result<Channel> {
  const suits = (c: Channel): boolean => (kind === 'email' ? c === 'email' : PHONE_CHANNELS.includes(c));
  if (requested === 'auto') {
    const pick = policy.channels.find((c) => suits(c) && available(c));
    return pick ? ok(pick) : fail(problem('channel-unavailable', `No channel allowed by the policy can reach this ${kind} right now.`));
  }
  if (!suits(requested)) {
    return fail(validationProblem(`Channel ${requested} cannot reach a ${kind}.`, { channel: ['incompatible_with_identifier'] }));
  }
  if (!policy.channels.includes(requested)) return fail(problem('channel-unavailable', `Channel ${requested} is not enabled by the integration's policy.`));
  if (!available(requested)) return fail(problem('channel-unavailable', `Channel ${requested} has no provider configured.`));
  return ok(requested);
}

export type CheckGate = { compare: true } | { compare: false; problem: ReturnType<typeof problem> };

/** What a check may do with the verification it found, before comparing any code. */
export function gateCheck(v: VerificationState | undefined, now: number): CheckGate {
  if (!v) return { compare: false, problem: problem('not-found', 'No pending verification for this identifier.') };
  const status = effectiveStatus(v, now);
  switch (status) {
    case 'pending':
      return { compare: true };
    case 'expired':
      return { compare: false, problem: problem('code-expired', 'The code has expired; request a new one.') };
    case 'failed':
      return { compare: false, problem: tooMany('max-attempts-reached', 'This verification has failed; request a new code.', 1000) };
    default:
      return { compare: false, problem: problem('not-found', `No pending verification for this identifier (the latest is ${status}).`) };
  }
}

/** After a wrong code took the attempt number `attempts`: does the verification fail now? */
export function afterWrongCode(attempts: number, maxAttempts: number, policy: Policy): { fails: boolean; attemptsRemaining: number; reason: FailureReason | null } {
  if (policy.checks.on_wrong_code === 'restart') return { fails: true, attemptsRemaining: 0, reason: 'wrong_code' };
  const attemptsRemaining = Math.max(0, maxAttempts - attempts);
  return attemptsRemaining === 0
    ? { fails: true, attemptsRemaining, reason: 'max_attempts_reached' }
    : { fails: false, attemptsRemaining, reason: null };
}

/** Whether a resend may go out now, or which 429/409 refuses it. */
export function gateResend(v: VerificationState, policy: Policy, now: number): Result<void> {
  const status = effectiveStatus(v, now);
  if (status !== 'pending') return fail(problem('invalid-state', `The verification is ${status}; only a pending one can be resent.`));
  if (v.sends >= policy.limits.max_sends) {
    return fail(tooMany('max-sends-reached', `The code was already sent ${v.sends} times; request a new verification.`, policy.limits.resend_cooldown_s * 1000));
  }
  const at = resendAvailableAt(v, policy);
  if (now < at) return fail(tooMany('resend-cooldown', 'Wait before sending the code again.', at - now, { resend_available_at: new Date(at).toISOString() }));
  return ok(undefined);
}
