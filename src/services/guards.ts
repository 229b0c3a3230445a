import { fail, ok, problem, tooMany, validationProblem, type Result } from '../domain/errors.js';
import { parseIdentifier, type Identifier } from '../domain/identifiers.js';
import type { Admission } from '../limits/limits.js';
import type { ServiceDeps, Tenant } from './context.js';
import { identifierKey } from './context.js';

/** 403 feature-not-enabled when the integration has OTP turned off. */
export function requireOtpEnabled(tenant: Tenant): Result<void> {
  return tenant.policy.otp_enabled
    ? ok(undefined)
    : fail(problem('feature-not-enabled', 'One-time codes are not enabled for this integration.'));
}

export function parseIdentifierField(input: string, field = 'identifier'): Result<Identifier> {
  const parsed = parseIdentifier(input);
  if (parsed.ok) return ok(parsed.identifier);
  return fail(validationProblem('The identifier must be a phone number in international form (+…), an email address or a CPF.', { [field]: [parsed.error] }));
}

/** 429 identifier-locked for `msLeft` more milliseconds. */
export function lockedRefusal(msLeft: number): Result<never> {
  const lock_duration = Math.max(1, Math.ceil(msLeft / 1000));
  return fail(tooMany('identifier-locked', `Too many failed checks; the identifier is locked for ${lock_duration} s.`, msLeft, { lock_duration }));
}

/** 429 identifier-locked while a lockout runs, else counts one send against the policy's per-identifier limit (one step: see Limits.admit). */
export async function admitSend(deps: ServiceDeps, tenant: Tenant, identifier: string): Promise<Result<void>> {
  return sendAdmission(tenant, await deps.limits.admit('send', identifierKey(tenant, identifier), tenant.policy.limits.send_per_minute, 60));
}

/** What a send's admission answers: nothing, or 429 `identifier-locked` or `rate-limit-exceeded`. */
export function sendAdmission(tenant: Tenant, admission: Admission): Result<void> {
  if (admission.ok) return ok(undefined);
  if (admission.locked) return lockedRefusal(admission.msLeft);
  return fail(tooMany('rate-limit-exceeded', `At most ${tenant.policy.limits.send_per_minute} codes a minute may be sent to one identifier.`, admission.msBeforeNext));
}
