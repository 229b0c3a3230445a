import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AttemptObservation } from '../delivery/resilience.js';
import type { CheckOutcome, Metrics } from '../services/context.js';
import type { GroupCommitStats } from '../store/pg-group-commit.js';
import type { Mode } from '../store/tables.js';

/** One registry per app instance (tests build many apps in one process). */
export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'otpgate_http_requests_total',
    help: 'HTTP requests by method, route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'otpgate_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly sends = new Counter({
    name: 'otpgate_sends_total',
    help: 'Code messages accepted for delivery, by channel and mode',
    labelNames: ['channel', 'mode'] as const,
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'otpgate_deliveries_total',
    help: 'Delivery attempts by channel, mode and result',
    labelNames: ['channel', 'mode', 'result'] as const,
    registers: [this.registry],
  });
  readonly checks = new Counter({
    name: 'otpgate_checks_total',
    help: 'Code checks by outcome and mode',
    labelNames: ['outcome', 'mode'] as const,
    registers: [this.registry],
  });

  readonly providerAttempts = new Counter({
    name: 'otpgate_provider_attempts_total',
    help: 'Calls to live providers by provider, channel and result (ok | failed)',
    labelNames: ['provider', 'channel', 'result'] as const,
    registers: [this.registry],
  });
  readonly providerFailures = new Counter({
    name: 'otpgate_provider_failures_total',
    help: "Failed provider calls by provider, channel and reason (the provider's error code, timeout, network, http_5xx, circuit_open)",
    labelNames: ['provider', 'channel', 'reason'] as const,
    registers: [this.registry],
  });
  readonly providerLatency = new Histogram({
    name: 'otpgate_provider_latency_seconds',
    help: 'Provider call latency by provider and channel',
    labelNames: ['provider', 'channel'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: 'otpgate_delivery_fallbacks_total',
    help: 'Codes moved to the next channel, by from, to and reason',
    labelNames: ['from', 'to', 'reason'] as const,
    registers: [this.registry],
  });
  readonly webhookAttempts = new Counter({
    name: 'otpgate_webhook_attempts_total',
    help: 'Webhook delivery attempts by result (succeeded | retry | failed | disabled)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly fraudGuard = new Counter({
    name: 'otpgate_fraud_guard_total',
    help: 'Sends the SMS-pumping guard found suspect, by rule and action (monitor: counted and logged; block: refused)',
    labelNames: ['rule', 'action'] as const,
    registers: [this.registry],
  });
  readonly circuitOpen = new Gauge({
    name: 'otpgate_provider_circuit_open',
    help: "1 while a provider's circuit breaker is open or half-open, else 0",
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  /** One provider call (the resilience layer reports each). */
  observeProviderAttempt(a: AttemptObservation): void {
    const result = a.ok ? 'ok' : 'failed';
    const children = childOf(this.#attemptChildren, `${a.provider} ${a.channel} ${result}`, () => ({
      count: this.providerAttempts.labels(a.provider, a.channel, result),
      time: this.providerLatency.labels(a.provider, a.channel),
    }));
    children.count.inc();
    children.time.observe(a.seconds);
    if (!a.ok) {
      const reason = a.reason ?? 'error';
      childOf(this.#failureChildren, `${a.provider} ${a.channel} ${reason}`, () => this.providerFailures.labels(a.provider, a.channel, reason)).inc();
    }
  }

  readonly #attemptChildren = new Map<string, { count: { inc(): void }; time: { observe(seconds: number): void } }>();
  readonly #failureChildren = new Map<string, { inc(): void }>();

  /** Labelled children by method, route and status: prom-client hashes the labels on every call otherwise. */
  readonly #requestChildren = new Map<string, { count: { inc(): void }; time: { observe(seconds: number): void } }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'otpgate_' });
  }

  /** Counts one answered request and its duration. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    // Routes are the registered patterns (or 'unmatched'), so the map stays small.
    const children = childOf(this.#requestChildren, `${method} ${statusCode} ${route}`, () => ({
      count: this.requests.labels(method, route, String(statusCode)),
      time: this.duration.labels(route),
    }));
    children.count.inc();
    children.time.observe(seconds);
  }

  readonly #sendChildren = new Map<string, { inc(): void }>();
  readonly #checkChildren = new Map<string, { inc(): void }>();

  sendAccepted(channel: string, mode: Mode): void {
    childOf(this.#sendChildren, `${channel} ${mode}`, () => this.sends.labels(channel, mode)).inc();
  }

  readonly #fraudChildren = new Map<string, { inc(): void }>();
  readonly #deliveryChildren = new Map<string, { inc(): void }>();

  /** One outbox message handled: its channel, mode and result (sent, delivered, failed). */
  delivered(channel: string, mode: Mode, result: string): void {
    childOf(this.#deliveryChildren, `${channel} ${mode} ${result}`, () => this.deliveries.labels(channel, mode, result)).inc();
  }

  fraudSuspected(rule: string, action: string): void {
    childOf(this.#fraudChildren, `${rule} ${action}`, () => this.fraudGuard.labels(rule, action)).inc();
  }

  check(outcome: CheckOutcome, mode: Mode): void {
    childOf(this.#checkChildren, `${outcome} ${mode}`, () => this.checks.labels(outcome, mode)).inc();
  }

  /**
   * Postgres group commit (store/pg-group-commit.ts), read from its counts when scraped: groups
   * committed, the transactions they held (members per group = the ratio of the two), and groups
   * rolled back and run again one transaction at a time (a member failed, or a deadlock).
   */
  watchGroupCommit(stats: Readonly<GroupCommitStats>): void {
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    counter('otpgate_postgres_group_commits_total', 'Postgres group commits: transactions of several requests committed with one COMMIT', () => stats.groups);
    counter('otpgate_postgres_group_commit_members_total', 'Requests (sends, approvals) committed inside Postgres group commits', () => stats.members);
    counter('otpgate_postgres_group_commit_retries_total', 'Postgres group commits rolled back and run again one request at a time (a request failed, or a deadlock)', () => stats.retriedAlone);
  }
}

/** The cached labelled child for `id`, made on first use. */
function childOf<T>(children: Map<string, T>, id: string, make: () => T): T {
  let child = children.get(id);
  if (child === undefined) {
    child = make();
    children.set(id, child);
  }
  return child;
}
