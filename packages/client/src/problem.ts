/**
 * Problems (RFC 9457 `application/problem+json`) and the `Result` every client method returns.
 * The slugs and their statuses are the closed list of API.md, "Error types and their status".
 */

/** Each error slug of the public API and its HTTP status. */
export const PROBLEM_STATUS = {
  'validation-error': 400,
  'invalid-api-key': 401,
  'invalid-signature': 401,
  'invalid-code': 401,
  'code-expired': 401,
  'insufficient-balance': 402,
  'otp-required': 403,
  'feature-not-enabled': 403,
  'forbidden-country': 403,
  'fraud-suspected': 403,
  'test-mode-only': 403,
  'not-found': 404,
  conflict: 409,
  'invalid-state': 409,
  'idempotency-conflict': 409,
  'request-timeout': 408,
  'payload-too-large': 413,
  'uri-too-long': 414,
  'headers-too-large': 431,
  'idempotency-key-reused': 422,
  'invalid-identity-reference': 422,
  'no-delivery-address': 422,
  'channel-unavailable': 422,
  'invalid-webhook-url': 422,
  'rate-limit-exceeded': 429,
  'resend-cooldown': 429,
  'max-attempts-reached': 429,
  'max-sends-reached': 429,
  'identifier-locked': 429,
  unavailable: 503,
} as const;

/** One of the API's error slugs. */
export type ProblemType = keyof typeof PROBLEM_STATUS;

/** The slugs answered with 429; their body always has `retry_after`. */
export type RateLimitProblemType = 'rate-limit-exceeded' | 'resend-cooldown' | 'max-attempts-reached' | 'max-sends-reached' | 'identifier-locked';

/** Members every problem may carry; unknown members of the body are passed through. */
export interface ProblemBase<T extends ProblemType = ProblemType> {
  type: T;
  title: string;
  status: number;
  detail: string;
  /** `validation-error`: field → error codes. */
  errors?: Record<string, string[]>;
  /** Every 429: seconds to wait (mirrors the `Retry-After` header). */
  retry_after?: number;
  /** `invalid-code`: wrong codes left before the verification fails. */
  attempts_remaining?: number;
  /** `identifier-locked`: seconds left on the lock. */
  lock_duration?: number;
  [member: string]: unknown;
}

/** `validation-error`, with the fields at fault. */
export interface ValidationProblem extends ProblemBase<'validation-error'> {
  errors?: Record<string, string[]>;
}
/** `invalid-code`, with the attempts left. */
export interface InvalidCodeProblem extends ProblemBase<'invalid-code'> {
  attempts_remaining?: number;
}
/** A 429, with `retry_after` seconds. */
export interface RateLimitProblem<T extends RateLimitProblemType = RateLimitProblemType> extends ProblemBase<T> {
  retry_after: number;
}
/** `identifier-locked`, with `lock_duration` seconds left. */
export interface IdentifierLockedProblem extends RateLimitProblem<'identifier-locked'> {
  lock_duration?: number;
}

/** Slugs that carry no members beyond the common ones. */
type PlainProblemType = Exclude<ProblemType, 'validation-error' | 'invalid-code' | RateLimitProblemType>;

/**
 * A problem answered by otpgate (or synthesized by the client as `unavailable`), discriminated by
 * `type`.
 * @example
 * if (!res.ok && res.problem.type === 'invalid-code') console.warn(res.problem.attempts_remaining);
 */
export type Problem =
  | ValidationProblem
  | InvalidCodeProblem
  | IdentifierLockedProblem
  | RateLimitProblem<Exclude<RateLimitProblemType, 'identifier-locked'>>
  | { [T in PlainProblemType]: ProblemBase<T> }[PlainProblemType];

/**
 * What every client method resolves to; it never rejects for an HTTP outcome.
 * `status` is the HTTP status (0 when no response arrived); `requestId` is the `X-Request-Id` answered.
 * @example
 * const res = await client.policy.get();
 * if (res.ok) console.warn(res.data.trust_level); else console.warn(res.problem.type, res.problem.detail);
 */
export type Result<T> =
  | { ok: true; data: T; status: number; requestId: string | null }
  | { ok: false; problem: Problem; status: number; requestId: string | null };

/**
 * Whether `type` is one of the API's error slugs.
 * @default false for anything that is not a string slug of API.md
 * @example
 * isProblemType('invalid-code'); // true
 */
export function isProblemType(type: unknown): type is ProblemType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(PROBLEM_STATUS, type);
}

/** The slug assumed for an error response whose body is not a known problem. */
const FALLBACK_BY_STATUS: Record<number, ProblemType> = {
  400: 'validation-error',
  401: 'invalid-api-key',
  402: 'insufficient-balance',
  403: 'feature-not-enabled',
  404: 'not-found',
  409: 'conflict',
  413: 'payload-too-large',
  422: 'validation-error',
  429: 'rate-limit-exceeded',
};

/**
 * A synthesized `unavailable` problem (network failure, timeout, 5xx, unreadable answer).
 * @default status 503, the API's status for `unavailable`
 * @example
 * unavailableProblem('connect ECONNREFUSED 127.0.0.1:8080');
 */
export function unavailableProblem(detail: string, extra: Record<string, unknown> = {}): Problem {
  return { ...extra, type: 'unavailable', title: 'The service is temporarily unavailable', status: 503, detail };
}

/**
 * Turns an error answer into a `Problem`: a problem+json body with a known slug is kept as is
 * (every member passed through); otherwise a 5xx or unreadable answer becomes `unavailable` and
 * any other 4xx gets the slug of its status (400 `validation-error`, 404 `not-found`, …).
 * @default `retry_after` taken from the `Retry-After` header when the body lacks it
 * @example
 * toProblem(404, { type: 'not-found', title: 'Not found', status: 404, detail: 'No verification has this id.' }, null);
 */
export function toProblem(status: number, body: unknown, retryAfterHeader: string | null): Problem {
  const record = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  const retryAfter = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
  if (record && isProblemType(record.type)) {
    const type = record.type;
    const problem = {
      ...record,
      type,
      title: typeof record.title === 'string' ? record.title : type,
      status: typeof record.status === 'number' ? record.status : status,
      detail: typeof record.detail === 'string' ? record.detail : '',
    } as Problem;
    if (problem.retry_after === undefined && retryAfter !== undefined) problem.retry_after = retryAfter;
    return problem;
  }
  const said = record ? [record.type, record.title, record.message, record.detail].find((v) => typeof v === 'string') : undefined;
  const detail = `otpgate answered HTTP ${status}${typeof said === 'string' ? `: ${said}` : ''}`;
  const fallback = FALLBACK_BY_STATUS[status];
  if (status >= 500 || fallback === undefined) return unavailableProblem(detail, { upstream_status: status });
  const problem = { type: fallback, title: fallback, status, detail, upstream_status: status } as Problem;
  if (status === 429) problem.retry_after = retryAfter ?? 1;
  return problem;
}
