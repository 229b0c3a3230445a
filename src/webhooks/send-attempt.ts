import { BlockedAddressError, checkUrlShape, postJson, type HostLookup } from '../net/url-guard.js';
import { parseRetryAfter } from './retry-schedule.js';
import { signHeaders } from './signing.js';

/** How much of a receiver's answer is kept (and shown in the deliveries list). */
export const KEPT_BODY_CHARS = 1_024;

export interface AttemptOutcome {
  /** 2xx. */
  ok: boolean;
  /** The receiver's HTTP status; null when there was no answer (refused, timed out, blocked). */
  status: number | null;
  /** The start of the answer's body, or null. */
  body: string | null;
  durationMs: number;
  /** Why it failed without an answer, or which answer it was: never a secret. */
  error: string | null;
  retryAfterMs: number | null;
}

export interface AttemptInput {
  url: string;
  /** Current secret first, then the one it replaced while that still signs. */
  secrets: readonly string[];
  eventId: string;
  body: string;
  now: number;
  timeoutMs: number;
  allowInsecure: boolean;
  /** Ends the attempt early (the dispatcher stopping). */
  signal?: AbortSignal;
  /** How the host is resolved when connecting (default: the system resolver); the answer is checked all the same. */
  lookup?: HostLookup;
}

/**
 * POSTs one signed event to a receiver through the SSRF guard (addresses checked again when the
 * socket connects; redirects never followed) and says how it went. Never throws.
 */
export async function sendAttempt(input: AttemptInput): Promise<AttemptOutcome> {
  // Saved while OTPGATE_WEBHOOK_ALLOW_INSECURE was on, sent after it was turned off: refused, not sent in clear.
  const shape = checkUrlShape(input.url, input.allowInsecure);
  if (!shape.ok) return { ok: false, status: null, body: null, durationMs: 0, error: `blocked: ${shape.reason}`, retryAfterMs: null };
  const headers = signHeaders(input.secrets, input.eventId, input.now, input.body);
  const started = performance.now();
  const timeout = AbortSignal.timeout(input.timeoutMs);
  const signal = input.signal ? AbortSignal.any([timeout, input.signal]) : timeout;
  try {
    const res = await postJson(input.url, input.body, { ...headers }, { allowInsecure: input.allowInsecure, signal, maxResponseBytes: KEPT_BODY_CHARS * 4, ...(input.lookup ? { lookup: input.lookup } : {}) });
    const ok = res.status >= 200 && res.status < 300;
    return {
      ok,
      status: res.status,
      body: res.body.slice(0, KEPT_BODY_CHARS),
      durationMs: Math.round(performance.now() - started),
      error: ok ? null : res.status >= 300 && res.status < 400 ? `the receiver answered ${res.status} (redirects are not followed)` : `the receiver answered ${res.status}`,
      retryAfterMs: parseRetryAfter(res.headers['retry-after'], input.now),
    };
  } catch (err) {
    return { ok: false, status: null, body: null, durationMs: Math.round(performance.now() - started), error: describeFailure(err, timeout, input.timeoutMs), retryAfterMs: null };
  }
}

function describeFailure(err: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (err instanceof BlockedAddressError) return `blocked: ${err.message}`;
  if (signal.aborted) return `no answer within ${timeoutMs} ms`;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? `network error (${code})` : `network error: ${message.slice(0, 200)}`;
}
