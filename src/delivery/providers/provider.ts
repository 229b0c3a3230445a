import type { Channel } from '../../domain/policy.js';
import type { ChannelAdapter, DeliveryJob, SendFailure, SendOutcome } from '../channel.js';
import { HttpTimeoutError } from './http-client.js';

export type ProviderName = 'whatsapp' | 'twilio' | 'smtp' | 'http';

/** The result of a read-only credentials check (`otpgate providers check`). */
export interface ProviderCheck {
  ok: boolean;
  /** What was checked, or why it failed (never a credential). */
  detail: string;
}

/** A live provider: a channel adapter that also knows which channels it serves and can check its credentials. */
export interface Provider extends ChannelAdapter {
  readonly name: ProviderName;
  readonly channels: readonly Channel[];
  /** A read-only call that proves the credentials work (no message is sent). */
  check(signal?: AbortSignal): Promise<ProviderCheck>;
  /** Releases connections (SMTP pools); optional. */
  close?(): Promise<void>;
  /**
   * True when `send` enforces the `timeoutMs` it is given itself (one timer in its HTTP client); the
   * resilience layer then does not wrap it in cockatiel's timeout policy, whose AbortController and
   * listeners per call cost a quarter of a provider call's CPU. Others get the policy's signal.
   */
  readonly enforcesTimeout?: boolean;
  send(job: DeliveryJob, signal?: AbortSignal, timeoutMs?: number): Promise<SendOutcome>;
}

/** Seconds or an HTTP date in Retry-After → milliseconds (undefined when absent or unreadable). */
export function retryAfterMs(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A failure from an HTTP answer: 429 and 5xx are worth retrying, any other 4xx is permanent
 * (the same request would fail again).
 */
export function httpFailure(provider: ProviderName, status: number, input: { errorCode?: string; message?: string; retryAfter?: string | null }): SendFailure {
  const retryable = status === 429 || status >= 500;
  const errorCode = input.errorCode ?? `http_${status}`;
  const failure: SendFailure = { ok: false, retryable, errorCode, error: `${provider}: HTTP ${status}${input.message ? `: ${input.message}` : ''}`, provider };
  const wait = retryAfterMs(input.retryAfter);
  if (wait !== undefined) failure.retryAfterMs = wait;
  return failure;
}

/** A failure for an exception thrown by the transport (network error, abort by the timeout). */
export function transportFailure(provider: ProviderName, err: unknown, signal?: AbortSignal): SendFailure {
  if (signal?.aborted || err instanceof HttpTimeoutError) return { ok: false, retryable: true, errorCode: 'timeout', error: `${provider}: no answer before the timeout`, provider };
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, retryable: true, errorCode: 'network', error: `${provider}: ${message}`, provider };
}

/** A delivery receipt from a provider's status callback, in otpgate's terms. */
export interface ProviderStatusUpdate {
  /** The provider's message id (WhatsApp `wamid…`, Twilio `SM…`), as returned by the send. */
  providerMessageId: string;
  /** `read` (WhatsApp) is reported as `delivered`. */
  status: 'sent' | 'delivered' | 'failed';
  /** When the provider says it happened (epoch ms), or undefined. */
  at?: number;
  errorCode?: string;
  error?: string;
}
