import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  DelegateBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhenResult,
  retry,
  timeout,
  type CircuitBreakerPolicy,
  type IRetryBackoffContext,
  type RetryPolicy,
  type TimeoutPolicy,
} from 'cockatiel';
import type { ProviderCallTunables } from '../config.js';
import type { Channel } from '../domain/policy.js';
import type { ChannelAdapter, DeliveryJob, SendFailure, SendOutcome } from './channel.js';
import { transportFailure, type Provider, type ProviderName } from './providers/provider.js';

export type CircuitStatus = 'closed' | 'open' | 'half-open';

/** One call to a provider, as the metrics see it. */
export interface AttemptObservation {
  provider: ProviderName;
  channel: Channel;
  ok: boolean;
  /** The failure's error code (`timeout`, `http_503`, `131026`, …), absent on success. */
  reason?: string;
  seconds: number;
}

const isTransient = (r: unknown): boolean => {
  const outcome = r as SendOutcome;
  return !outcome.ok && outcome.retryable && outcome.errorCode !== 'circuit_open';
};

/**
 * A provider behind cockatiel's policies, composed as Twilio Verify or a carrier-grade sender would:
 * - a timeout on every call: cockatiel's (its signal ends the adapter's call), or the adapter's own
 *   deadline where it enforces one (`enforcesTimeout`: the Graph API and Twilio clients, one timer per call);
 * - retries within the attempt for transient failures (5xx, 429, network, timeout), with exponential
 *   backoff and full jitter, waiting what Retry-After asks; a Retry-After longer than the budget ends
 *   the attempt at once (the caller falls back, or the outbox retries after it);
 * - no retry on a permanent failure (the provider said the request itself is wrong);
 * - a circuit breaker per provider: consecutive transient failures open it, calls then fail at once
 *   with `circuit_open` (the caller sends to the next channel), and after `breakerHalfOpenMs` one
 *   probe is let through; its success closes the circuit.
 * Permanent failures do not count against the circuit: an invalid number says nothing about the
 * provider's health.
 */
export class ResilientProvider implements ChannelAdapter {
  readonly name: ProviderName;
  private readonly retry: RetryPolicy;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly timeout: TimeoutPolicy;
  private readonly retryable: (r: unknown) => boolean;

  constructor(
    readonly provider: Provider,
    private readonly tunables: ProviderCallTunables,
    private readonly observe: (attempt: AttemptObservation) => void = () => {},
    random: () => number = Math.random,
  ) {
    this.name = provider.name;
    // Cooperative: every adapter ends its call when the signal aborts (undici, nodemailer), so no race
    // is needed; abortOnReturn off: aborting a finished call's signal only cost a DOMException per send.
    this.timeout = timeout(tunables.timeoutMs, { strategy: TimeoutStrategy.Cooperative, abortOnReturn: false });
    this.breaker = circuitBreaker(handleWhenResult(isTransient), {
      halfOpenAfter: tunables.breakerHalfOpenMs,
      breaker: new ConsecutiveBreaker(tunables.breakerFailures),
    });
    const backoff = new DelegateBackoff<IRetryBackoffContext<unknown>>((context) => {
      const last = 'value' in context.result ? (context.result.value as SendFailure) : undefined;
      if (last?.retryAfterMs !== undefined) return last.retryAfterMs;
      const ceiling = tunables.backoffMs * 2 ** (context.attempt - 1);
      return Math.floor(random() * ceiling);
    });
    this.retryable = (r: unknown): boolean => isTransient(r) && ((r as SendFailure).retryAfterMs ?? 0) <= tunables.maxRetryAfterMs;
    this.retry = retry(handleWhenResult(this.retryable), { maxAttempts: tunables.retries, backoff });
    this.retry.dangerouslyUnref();
  }

  /** The circuit's state, for /readyz and the metrics. */
  circuit(): CircuitStatus {
    switch (this.breaker.state) {
      case CircuitState.Open:
      case CircuitState.Isolated:
        return 'open';
      case CircuitState.HalfOpen:
        return 'half-open';
      default:
        return 'closed';
    }
  }

  /**
   * The first call goes straight to the provider; only a failure worth retrying enters the retry
   * policy, which takes that failure as its first attempt (then backs off and calls again). The same
   * as running every call under the retry policy, without its promises and events on the happy path.
   */
  async send(job: DeliveryJob): Promise<SendOutcome> {
    const first = await this.once(job);
    if (!this.retryable(first)) return first;
    let failed: SendOutcome | undefined = first;
    return this.retry.execute(async () => {
      if (!failed) return this.once(job);
      const outcome = failed;
      failed = undefined;
      return outcome;
    });
  }

  private async once(job: DeliveryJob): Promise<SendOutcome> {
    const started = performance.now();
    let outcome: SendOutcome;
    try {
      outcome = await this.breaker.execute(() => this.timed(job));
    } catch (err) {
      outcome =
        err instanceof BrokenCircuitError
          ? { ok: false, retryable: true, errorCode: 'circuit_open', error: `${this.name}: circuit open after repeated failures; trying the next channel`, provider: this.name }
          : transportFailure(this.name, err);
    }
    if (!outcome.ok) outcome.provider ??= this.name;
    else outcome.provider ??= this.name;
    this.observe({ provider: this.name, channel: job.channel, ok: outcome.ok, ...(outcome.ok ? {} : { reason: outcome.errorCode ?? 'error' }), seconds: (performance.now() - started) / 1000 });
    return outcome;
  }

  private async timed(job: DeliveryJob): Promise<SendOutcome> {
    if (this.provider.enforcesTimeout) {
      try {
        return await this.provider.send(job, undefined, this.tunables.timeoutMs);
      } catch (err) {
        return transportFailure(this.name, err);
      }
    }
    try {
      return await this.timeout.execute((_context, signal) => this.provider.send(job, signal));
    } catch (err) {
      if (err instanceof TaskCancelledError) return { ok: false, retryable: true, errorCode: 'timeout', error: `${this.name}: no answer within ${this.tunables.timeoutMs} ms`, provider: this.name };
      return transportFailure(this.name, err);
    }
  }
}
