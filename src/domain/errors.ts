/**
 * The closed list of problem types of the public API (RFC 9457 `type` slugs), mapped to their HTTP
 * status in this one place. The domain returns `Problem` values for expected outcomes; it throws only
 * for bugs.
 */
export const PROBLEM_TYPES = {
  'validation-error': { status: 400, title: 'The request is not valid' },
  'invalid-api-key': { status: 401, title: 'The API key is missing, unknown or revoked' },
  'invalid-signature': { status: 401, title: 'The request signature is not valid' },
  'invalid-code': { status: 401, title: 'The code is not correct' },
  'code-expired': { status: 401, title: 'The code has expired' },
  'insufficient-balance': { status: 402, title: 'The balance does not cover this send' },
  'otp-required': { status: 403, title: 'A valid OTP session is required for this action' },
  'feature-not-enabled': { status: 403, title: 'This feature is not enabled for the integration' },
  'forbidden-country': { status: 403, title: 'The destination country is not allowed' },
  'fraud-suspected': { status: 403, title: 'The request looks fraudulent' },
  'test-mode-only': { status: 403, title: 'This endpoint is only available in test mode' },
  'csrf-failed': { status: 403, title: 'The CSRF token is missing or not valid for this session' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  'invalid-state': { status: 409, title: 'The resource is not in a state that allows this' },
  'idempotency-conflict': { status: 409, title: 'A request with this Idempotency-Key is still in flight' },
  'request-timeout': { status: 408, title: 'The request was not received in time' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'uri-too-long': { status: 414, title: 'The request URI is too long' },
  'idempotency-key-reused': { status: 422, title: 'The Idempotency-Key was used with another request' },
  'invalid-identity-reference': { status: 422, title: 'The identity reference is unknown' },
  'no-delivery-address': { status: 422, title: 'There is no address to deliver the code to' },
  'channel-unavailable': { status: 422, title: 'The channel is not available' },
  'invalid-webhook-url': { status: 422, title: 'The webhook URL is not allowed' },
  'unsupported-country': { status: 422, title: 'The sandbox has no fictitious numbers for this country' },
  'no-number-available': { status: 422, title: 'No number of the pool is free' },
  'rate-limit-exceeded': { status: 429, title: 'Too many requests' },
  'resend-cooldown': { status: 429, title: 'Wait before sending the code again' },
  'max-attempts-reached': { status: 429, title: 'Too many wrong codes; request a new one' },
  'max-sends-reached': { status: 429, title: 'The code was sent the maximum number of times' },
  'identifier-locked': { status: 429, title: 'The identifier is locked after too many failed checks' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  unavailable: { status: 503, title: 'The service is temporarily unavailable' },
  'internal-error': { status: 500, title: 'Internal error' },
} as const;

export type ProblemType = keyof typeof PROBLEM_TYPES;

/** An expected failure: a problem type, a human detail and extra members for the body. */
export interface Problem {
  readonly type: ProblemType;
  readonly detail: string;
  readonly extra?: Record<string, unknown>;
}

export function problem(type: ProblemType, detail: string, extra?: Record<string, unknown>): Problem {
  return extra ? { type, detail, extra } : { type, detail };
}

/** A validation problem with `errors: {field: [code]}`. */
export function validationProblem(detail: string, errors: Record<string, string[]>): Problem {
  return problem('validation-error', detail, { errors });
}

/** A 429 problem; `retry_after` (whole seconds, at least 1) goes in the body and the Retry-After header. */
export function tooMany(
  type: Extract<ProblemType, 'rate-limit-exceeded' | 'resend-cooldown' | 'max-attempts-reached' | 'max-sends-reached' | 'identifier-locked'>,
  detail: string,
  retryAfterMs: number,
  extra?: Record<string, unknown>,
): Problem {
  const retry_after = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return problem(type, detail, { retry_after, ...extra });
}

export type Result<T> = { ok: true; value: T } | { ok: false; problem: Problem };
export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(p: Problem): Result<T> => ({ ok: false, problem: p });

/** Thrown through HTTP layers (auth hooks, idempotency) where a return value cannot carry it. */
export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
    this.name = 'ProblemError';
  }
}
