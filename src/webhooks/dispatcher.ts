import type { Logger } from 'pino';
import type { WebhookTunables } from '../config.js';
import { toIso, type Clock, type Random } from '../domain/clock.js';
import { base62 } from '../domain/ids.js';
import type { HostLookup } from '../net/url-guard.js';
import type { Db } from '../store/tables.js';
import {
  claimDueDeliveries,
  findEndpointsByIds,
  findEvents,
  holdPending,
  dropClaimed,
  recordAttempt,
  releaseClaims,
  releaseHeldOfActive,
  updateEndpoint,
  type AttemptRecord,
  type EventRow,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
} from '../store/webhooks-repo.js';
import { signingSecrets } from './endpoint-secrets.js';
import { nextRetryDelay } from './retry-schedule.js';
import { sendAttempt, type AttemptOutcome } from './send-attempt.js';
import { storedEventBody } from './signing.js';

/** How an attempt ended, for metrics. */
export type AttemptResult = 'succeeded' | 'retry' | 'failed' | 'disabled';

export interface WebhookDispatcherOptions {
  db: Db;
  postgres: boolean;
  clock: Clock;
  random: Random;
  logger: Logger;
  serverSecret: Buffer;
  /** Private addresses and http allowed (OTPGATE_WEBHOOK_ALLOW_INSECURE). */
  allowInsecure: boolean;
  /** How receivers' host names are resolved when connecting (default: the system resolver; tests). */
  connectLookup?: HostLookup;
  tunables: Pick<WebhookTunables, 'timeoutMs' | 'concurrencyPerEndpoint' | 'maxInFlight' | 'pollMs' | 'heldRecheckMs'>;
  onAttempt?: (result: AttemptResult) => void;
}

/** Deliveries claimed by one look. */
const CLAIM_BATCH = 50;
/** A claim outlives the attempt's timeout by this much (recording it included). */
const LEASE_MARGIN_MS = 5_000;

/**
 * Sends due webhook deliveries: claims them from `webhook_deliveries` under a lease (a crashed
 * process's claims come back when the lease lapses, so nothing is lost), attempts each through the
 * SSRF guard, and records the outcome: succeeded, a retry on the schedule, failed, or (410) the
 * endpoint disabled and its deliveries held.
 *
 * It runs beside the outbox worker, not inside it: an attempt may take the full timeout, and a
 * receiver that hangs must not hold up code deliveries (the outbox records a batch only when its
 * slowest message is done). Here each attempt runs on its own; an endpoint has at most
 * `concurrencyPerEndpoint` in flight in this process (the claim leaves out endpoints at their cap),
 * so one slow receiver cannot take the slots other integrations' webhooks need.
 */
export class WebhookDispatcher {
  readonly id: string;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private poked = false;
  private pokeTimer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly perEndpoint = new Map<string, number>();
  private abort = new AbortController();
  /** When this dispatcher last looked for held deliveries of active endpoints (performance.now()). */
  private heldCheckedAt = -Infinity;

  constructor(private readonly o: WebhookDispatcherOptions) {
    this.id = `whw_${base62(o.random, 12)}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Look for due deliveries soon (an event got a delivery, an endpoint resumed, a manual retry). */
  poke(): void {
    if (!this.running || this.pokeTimer) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = null;
      this.poked = true;
      this.wake?.();
    }, 20);
    this.pokeTimer.unref();
  }

  /** Stops claiming; attempts in flight are abandoned and their claims handed back for another process. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.pokeTimer) clearTimeout(this.pokeTimer);
    this.pokeTimer = null;
    this.wake?.();
    this.abort.abort();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Attempts everything due until nothing is (tests; the clock decides what is due). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const started = await this.tick();
      total += started;
      await Promise.allSettled([...this.inFlight]);
      if (started === 0 && this.inFlight.size === 0) return total;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.tick();
      } catch (err) {
        this.o.logger.error({ err }, 'webhooks: claim failed');
      }
      if (!this.running) break;
      if (this.inFlight.size >= this.o.tunables.maxInFlight) await Promise.race(this.inFlight);
      else if (claimed === 0 && !this.poked) await this.sleep(this.o.tunables.pollMs);
      this.poked = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }

  /** Claims what is due (within the caps) and starts the attempts; returns how many it claimed. */
  private async tick(): Promise<number> {
    const { maxInFlight, concurrencyPerEndpoint, timeoutMs, heldRecheckMs } = this.o.tunables;
    const now = this.o.clock.now();
    if (performance.now() - this.heldCheckedAt >= heldRecheckMs) {
      this.heldCheckedAt = performance.now();
      await releaseHeldOfActive(this.o.db, now);
    }
    const free = maxInFlight - this.inFlight.size;
    if (free <= 0) return 0;
    const saturated = [...this.perEndpoint].filter(([, n]) => n >= concurrencyPerEndpoint).map(([id]) => id);
    const rows = await claimDueDeliveries(this.o.db, {
      workerId: this.id,
      now,
      lease: now + timeoutMs + LEASE_MARGIN_MS,
      limit: Math.min(free, CLAIM_BATCH),
      excludeEndpoints: saturated,
      postgres: this.o.postgres,
    });
    // The endpoints and events of the whole claim in two reads (not two per attempt).
    const endpoints = new Map((await findEndpointsByIds(this.o.db, [...new Set(rows.map((r) => r.endpoint_id))])).map((e) => [e.id, e]));
    const events = new Map((await findEvents(this.o.db, rows.map((r) => r.event_id))).map((e) => [e.id, e]));
    const overCap: string[] = [];
    for (const row of rows) {
      const n = this.perEndpoint.get(row.endpoint_id) ?? 0;
      if (n >= concurrencyPerEndpoint) {
        overCap.push(row.id);
        continue;
      }
      this.perEndpoint.set(row.endpoint_id, n + 1);
      const tracked = this.attempt(row, endpoints.get(row.endpoint_id), events.get(row.event_id))
        .catch((err: unknown) => this.o.logger.error({ err, webhook_delivery_id: row.id }, 'webhooks: an attempt could not be recorded; its claim lapses and it is tried again'))
        .finally(() => {
          const left = (this.perEndpoint.get(row.endpoint_id) ?? 1) - 1;
          if (left <= 0) this.perEndpoint.delete(row.endpoint_id);
          else this.perEndpoint.set(row.endpoint_id, left);
          this.inFlight.delete(tracked);
          // A slot is free: look again at once for that endpoint's next delivery (or another's).
          this.poked = true;
          this.wake?.();
        });
      this.inFlight.add(tracked);
    }
    await releaseClaims(this.o.db, this.id, overCap, now);
    return rows.length - overCap.length;
  }

  private async attempt(row: WebhookDeliveryRow, endpoint: WebhookEndpointRow | undefined, event: EventRow | undefined): Promise<void> {
    const { db, clock } = this.o;
    if (!endpoint) {
      // Its endpoint was deleted (with its deliveries) after a process wrote this one from a stale cache entry.
      await dropClaimed(db, this.id, row.id);
      return;
    }
    const base = { last_attempt_at: row.last_attempt_at, last_response_status: row.last_response_status, last_response_ms: row.last_response_ms, last_response_body: row.last_response_body, last_error: row.last_error };
    if (endpoint.is_active !== 1) {
      await recordAttempt(db, row.id, this.id, { ...base, status: 'held', attempts: row.attempts, next_attempt_at: null, updated_at: clock.now() });
      return;
    }
    if (!event) {
      await recordAttempt(db, row.id, this.id, { ...base, status: 'failed', attempts: row.attempts, next_attempt_at: null, last_error: 'the event is no longer stored', updated_at: clock.now() });
      return;
    }
    const now = clock.now();
    let secrets: string[];
    try {
      secrets = signingSecrets(endpoint, this.o.serverSecret, now);
    } catch {
      await this.record(row, { ok: false, status: null, body: null, durationMs: 0, error: 'the signing secret could not be read (was the server secret changed?)', retryAfterMs: null }, now);
      return;
    }
    const body = storedEventBody({ id: event.id, type: event.type, created_at: toIso(event.created_at), data_json: event.data_json });
    const outcome = await sendAttempt({
      url: endpoint.url,
      secrets,
      eventId: event.id,
      body,
      now,
      timeoutMs: this.o.tunables.timeoutMs,
      allowInsecure: this.o.allowInsecure,
      signal: this.abort.signal,
      ...(this.o.connectLookup ? { lookup: this.o.connectLookup } : {}),
    });
    if (this.abort.signal.aborted) {
      // Stopping: not recorded; the claim goes back so another process sends it (same webhook-id).
      await releaseClaims(db, this.id, [row.id], clock.now()).catch(() => undefined);
      return;
    }
    await this.record(row, outcome, now);
  }

  private async record(row: WebhookDeliveryRow, outcome: AttemptOutcome, at: number): Promise<void> {
    const { db, clock, random } = this.o;
    const attempts = row.attempts + 1;
    const seen: Omit<AttemptRecord, 'status' | 'next_attempt_at'> = {
      attempts,
      last_attempt_at: at,
      last_response_status: outcome.status,
      last_response_ms: outcome.durationMs,
      last_response_body: outcome.body,
      last_error: outcome.error,
      updated_at: clock.now(),
    };
    if (outcome.ok) {
      await recordAttempt(db, row.id, this.id, { ...seen, status: 'succeeded', next_attempt_at: null });
      this.o.onAttempt?.('succeeded');
      return;
    }
    if (outcome.status === 410) {
      // Gone: the endpoint is turned off (GET /v1/webhook says why); what it would have received is held.
      const now = clock.now();
      await db.transaction().execute(async (trx) => {
        const mine = await recordAttempt(trx, row.id, this.id, { ...seen, status: 'held', next_attempt_at: null });
        if (!mine) return;
        await updateEndpoint(trx, row.endpoint_id, { is_active: 0, disabled_reason: `The receiver answered 410 Gone on ${toIso(at)}; deliveries are held until is_active is set to true again.`, updated_at: now });
        await holdPending(trx, row.endpoint_id, now);
      });
      this.o.logger.warn({ webhook_delivery_id: row.id, integration_id: row.integration_id }, 'webhooks: the receiver answered 410; endpoint disabled');
      this.o.onAttempt?.('disabled');
      return;
    }
    const delay = nextRetryDelay(attempts, random, outcome.retryAfterMs);
    if (delay === null) {
      await recordAttempt(db, row.id, this.id, { ...seen, status: 'failed', next_attempt_at: null });
      this.o.onAttempt?.('failed');
      return;
    }
    await recordAttempt(db, row.id, this.id, { ...seen, status: 'pending', next_attempt_at: clock.now() + delay });
    this.o.onAttempt?.('retry');
  }
}
