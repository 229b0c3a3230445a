import type { LookupFunction } from 'node:net';
import { HttpClient, HttpTimeoutError, ResponseTooLargeError, type HttpRequester } from '../delivery/providers/http-client.js';
import { createHttpClient } from '../net/http-thread.js';
import { BlockedAddressError, checkUrlShape, guardedLookup, literalAddressRefusal, type HostLookup } from '../net/url-guard.js';
import { parseRetryAfter } from './retry-schedule.js';
import { signHeaders } from './signing.js';

/** How much of a receiver's answer is kept (and shown in the deliveries list). */
export const KEPT_BODY_CHARS = 1_024;
/** An answer longer than this is not read to its end (the connection is cut instead). */
const MAX_READ_BYTES = 64 * 1024;

/**
 * The clients attempts go through: undici keep-alive pools (a connection is checked when it is
 * opened, so reusing it still reaches the address that was checked; a rebinding only reaches new
 * connections, which are checked again). Strict ones resolve through the SSRF guard's lookup
 * (`guardedLookup`, the check request-filtering-agent makes, at connect time on the resolved
 * address); undici never follows a redirect. Why not node:http with request-filtering-agent, as the
 * HTTP gateway provider does: per attempt it cost about twice the CPU (ClientRequest, agent, a
 * timeout signal per call), and a webhook goes out for every event.
 */
let insecureClient: HttpRequester | undefined;
let strictClient: HttpRequester | undefined;
const clientsByLookup = new WeakMap<HostLookup, HttpClient>();

function clientFor(allowInsecure: boolean, lookup: HostLookup | undefined): HttpRequester {
  // On the outgoing-HTTP thread when it is on (net/http-thread.ts); a stub resolver (tests) cannot cross to it.
  if (allowInsecure) return (insecureClient ??= createHttpClient({ maxBodyBytes: MAX_READ_BYTES }));
  if (!lookup) return (strictClient ??= createHttpClient({ maxBodyBytes: MAX_READ_BYTES, guarded: true }));
  let client = clientsByLookup.get(lookup);
  if (!client) {
    client = new HttpClient({ maxBodyBytes: MAX_READ_BYTES, lookup: guardedLookup(lookup) as unknown as LookupFunction });
    clientsByLookup.set(lookup, client);
  }
  return client;
}

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
  try {
    if (!input.allowInsecure) {
      // An IP literal is not looked up when connecting: it is checked here.
      const why = literalAddressRefusal(shape.url);
      if (why) throw new BlockedAddressError(why);
    }
    const res = await clientFor(input.allowInsecure, input.lookup).request(shape.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'otpgate', ...headers },
      body: input.body,
      timeoutMs: input.timeoutMs,
      signal: input.signal ?? null,
    });
    const ok = res.status >= 200 && res.status < 300;
    let body: string;
    try {
      body = (await res.text()).slice(0, KEPT_BODY_CHARS);
    } catch (err) {
      if (!(err instanceof ResponseTooLargeError)) throw err;
      body = `(an answer over ${MAX_READ_BYTES} bytes, not read)`;
    }
    return {
      ok,
      status: res.status,
      body,
      durationMs: Math.round(performance.now() - started),
      error: ok ? null : res.status >= 300 && res.status < 400 ? `the receiver answered ${res.status} (redirects are not followed)` : `the receiver answered ${res.status}`,
      retryAfterMs: parseRetryAfter(res.headers['retry-after'], input.now),
    };
  } catch (err) {
    return { ok: false, status: null, body: null, durationMs: Math.round(performance.now() - started), error: describeFailure(err, input.timeoutMs), retryAfterMs: null };
  }
}

function describeFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof BlockedAddressError) return `blocked: ${err.message}`;
  if (err instanceof HttpTimeoutError) return `no answer within ${timeoutMs} ms`;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? `network error (${code})` : `network error: ${message.slice(0, 200)}`;
}
