import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { WebhookTunables } from '../config.js';
import { toIso, type Clock, type Random } from '../domain/clock.js';
import { base62 } from '../domain/ids.js';
import type { HostLookup } from '../net/url-guard.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Db } from '../store/tables.js';
import {
  claimDueWithEvents,
  findEndpointsByIds,
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
  tunables: Pick<WebhookTunables, 'timeoutMs' | 'concurrencyPerEndpoint' | 'maxInFlight' | 'pollMs' | 'heldRecheckMs' | 'endpointCacheMs' | 'queueMax'>;
  onAttempt?: (result: AttemptResult) => void;
  /** Runs prepared queries in one transaction (preparedTransaction, or on Postgres a pipelined batch): attempts ending together are recorded in one. */
  transact?: <T>(work: (trx: QueryRunner) => Promise<T>) => Promise<T>;
}

/** Deliveries claimed by one look, and how few claimed ones an endpoint has waiting before it is claimed for again. */
const CLAIM_BATCH = 50;
/** Claimed deliveries one endpoint may have waiting in this process for a free slot (more are handed back). */
const QUEUE_LIMIT = 2 * CLAIM_BATCH;
/** A claim outlives the attempt's timeout by this much (recording it included). */
const LEASE_MARGIN_MS = 5_000;
/**
 * How long a claimed delivery may wait in this process for a free slot of its endpoint: its lease
 * covers that wait too, and a delivery that waited longer is handed back (due at once, for any process)
 * rather than started on a lease that could lapse before its attempt is recorded.
 */
const QUEUE_HOLD_MS = 5_000;
/**
 * Fresh deliveries an endpoint takes by handoff beyond QUEUE_LIMIT: as many as its pace here sends
 * within this share of QUEUE_HOLD_MS (the rest of the hold is a margin for a slower moment).
 */
const HANDOFF_HOLD_SHARE = 0.8;
/** An endpoint's pace (attempts finished per second here) is measured over windows this long. */
const PACE_WINDOW_MS = 1_000;
/** Endpoints whose pace is remembered (beyond it, all are forgotten and measured again). */
const PACE_MAX_ENDPOINTS = 10_000;

/** A claimed delivery waiting for a free slot of its endpoint, with its event (read in the claim). */
interface Queued {
  row: WebhookDeliveryRow;
  event: EventRow | undefined;
}

/**
 * Sends due webhook deliveries: claims them from `webhook_deliveries` under a lease (a crashed
 * process's claims come back when the lease lapses, so nothing is lost), attempts each through the
 * SSRF guard, and records the outcome: succeeded, a retry on the schedule, failed, or (410) the
 * endpoint disabled and its deliveries held.
 *
 * It runs beside the outbox worker, not inside it: an attempt may take the full timeout, and a
 * receiver that hangs must not hold up code deliveries (the outbox records a batch only when its
 * slowest message is done). Here each attempt runs on its own; an endpoint has at most
 * `concurrencyPerEndpoint` in flight in this process, so one slow receiver cannot take the slots
 * other integrations' webhooks need.
 *
 * Claims come in batches of up to 50 and wait per endpoint for a free slot (a claim of one row per
 * finished attempt cost a statement per delivery; one of 50 rows for one free slot cost 50 row writes
 * to take them and 49 to hand them back). A look claims when something may be due for an endpoint
 * with room in its queue (an event got a delivery here, a full batch came back, an endpoint resumed),
 * and otherwise every `pollMs` (what other processes wrote). The claim leaves out the endpoints whose
 * queue already holds a batch. What an endpoint is (its URL, secret, whether it is active) is read
 * with the claim and trusted for `endpointCacheMs` (or until a change is announced), like the fan-out.
 *
 * A fresh delivery need not be claimed at all: fan-out writes it already claimed by this dispatcher
 * while its endpoint's queue here has room (claimForHandoff), and the commit hands it over with its
 * event (take), so neither the claim nor the read of the event is paid for it. That takes a commit
 * hook: the embedded store's group commit, or a pipelined Postgres transaction (fan-out.ts).
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
  /** Claimed deliveries waiting for a free slot, per endpoint, in claim order. */
  private readonly queued = new Map<string, Queued[]>();
  private queuedCount = 0;
  /** Endpoints as last read (undefined: deleted), with when (performance.now()). */
  private readonly endpoints = new Map<string, { row: WebhookEndpointRow | undefined; readAt: number }>();
  /** Endpoints that may have more due deliveries than this process has claimed. */
  private readonly moreDue = new Set<string>();
  /** The next look claims (otherwise it only starts what is queued, until `pollMs` has passed). */
  private wantClaim = true;
  private claimedAt = -Infinity;
  private abort: AbortController;
  /** When this dispatcher last looked for held deliveries of active endpoints (performance.now()). */
  private heldCheckedAt = -Infinity;
  /** Attempt records waiting for the next flush (see recordAttempt). */
  private readonly pendingRecords: Array<{ id: string; record: AttemptRecord; resolve(held: boolean): void; reject(err: unknown): void }> = [];
  private recordTimer: NodeJS.Immediate | null = null;
  /** Deliveries taken from the transactions that wrote them, without a claim (tests). */
  handedOver = 0;
  /** How fast each endpoint's attempts finish in this process: per second, over the last windows (see handoffRoom). */
  private readonly pace = new Map<string, { from: number; count: number; perSecond: number }>();

  constructor(private readonly o: WebhookDispatcherOptions) {
    this.id = `whw_${base62(o.random, 12)}`;
    this.abort = this.newAbort();
  }

  /** Every attempt in flight (up to maxInFlight) listens on this one signal, and stops listening when it ends: not a leak. */
  private newAbort(): AbortController {
    const controller = new AbortController();
    setMaxListeners(this.o.tunables.maxInFlight + 1, controller.signal);
    return controller;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = this.newAbort();
    this.loop = this.run();
  }

  /**
   * Look for due deliveries soon: an event got a delivery for `endpointId` (nothing to do while that
   * endpoint already has a batch waiting here), or without one, an endpoint resumed or a delivery is
   * to be retried now.
   */
  poke(endpointId?: string): void {
    if (endpointId !== undefined) {
      this.moreDue.add(endpointId);
      if ((this.queued.get(endpointId)?.length ?? 0) >= CLAIM_BATCH) return;
    }
    this.wantClaim = true;
    if (!this.running || this.pokeTimer) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = null;
      this.poked = true;
      this.wake?.();
    }, 20);
    this.pokeTimer.unref();
  }

  /**
   * A claim for a delivery about to be written to `endpointId` in this process (fan-out's
   * WebhookHandoff), or null when this dispatcher is not running or that endpoint's queue here is
   * full (handoffRoom), or the process holds `queueMax` waiting deliveries: the delivery is then
   * written unclaimed and claimed like any other.
   */
  claimForHandoff(endpointId: string): { workerId: string; until: number } | null {
    if (!this.running || this.queuedCount >= this.o.tunables.queueMax) return null;
    if ((this.queued.get(endpointId)?.length ?? 0) >= this.handoffRoom(endpointId)) return null;
    return { workerId: this.id, until: this.o.clock.now() + this.o.tunables.timeoutMs + LEASE_MARGIN_MS + QUEUE_HOLD_MS };
  }

  /**
   * How many waiting deliveries `endpointId` may have here before fresh ones are no longer handed
   * over: QUEUE_LIMIT, or more for an endpoint whose pace here sends more within most of the hold.
   * A burst faster than the endpoint takes it (a benchmark's sends, two events each) then waits in
   * memory instead of being written unclaimed and claimed back a batch at a time (a row update and an
   * event read each). What could not be sent within the hold is never taken: it would only be handed
   * back.
   */
  handoffRoom(endpointId: string): number {
    const perSecond = this.pace.get(endpointId)?.perSecond ?? 0;
    return Math.max(QUEUE_LIMIT, Math.floor((perSecond * QUEUE_HOLD_MS * HANDOFF_HOLD_SHARE) / 1000));
  }

  /** Counts a finished attempt of `endpointId` into its pace (the mean of the last window's rate and the ones before). */
  private noteFinished(endpointId: string): void {
    const now = performance.now();
    const pace = this.pace.get(endpointId);
    if (!pace) {
      if (this.pace.size >= PACE_MAX_ENDPOINTS) this.pace.clear();
      this.pace.set(endpointId, { from: now, count: 1, perSecond: 0 });
      return;
    }
    pace.count++;
    const span = now - pace.from;
    if (span < PACE_WINDOW_MS) return;
    const rate = (pace.count * 1000) / span;
    pace.perSecond = pace.perSecond === 0 ? rate : (pace.perSecond + rate) / 2;
    pace.from = now;
    pace.count = 0;
  }

  /**
   * Takes a committed delivery written with claimForHandoff's claim, with its event: it waits for a
   * free slot of its endpoint like a claimed one. After stop() it is left to its claim's lapse.
   */
  take(row: WebhookDeliveryRow, event: EventRow): void {
    if (!this.running) return;
    let list = this.queued.get(row.endpoint_id);
    if (!list) this.queued.set(row.endpoint_id, (list = []));
    list.push({ row, event });
    this.queuedCount++;
    this.handedOver++;
    this.poked = true;
    this.wake?.();
  }

  /** Forgets what it read about endpoints (one changed, here or in another process). */
  forgetEndpoints(): void {
    this.endpoints.clear();
  }

  /** Stops claiming; attempts in flight are abandoned and their claims handed back for another process, like those still waiting. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.pokeTimer) clearTimeout(this.pokeTimer);
    this.pokeTimer = null;
    this.wake?.();
    this.abort.abort();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
    const waiting = [...this.queued.values()].flat().map((q) => q.row.id);
    this.queued.clear();
    this.queuedCount = 0;
    await releaseClaims(this.o.db, this.id, waiting, this.o.clock.now()).catch((err: unknown) => this.o.logger.warn({ err }, 'webhooks: claims could not be handed back; they are due again when their lease lapses'));
  }

  /** Attempts everything due until nothing is (tests; the clock decides what is due). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      this.wantClaim = true;
      const started = await this.tick();
      total += started;
      await Promise.allSettled([...this.inFlight]);
      if (started === 0 && this.inFlight.size === 0 && this.queuedCount === 0) return total;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      let started = 0;
      try {
        started = await this.tick();
      } catch (err) {
        this.o.logger.error({ err }, 'webhooks: claim failed');
      }
      if (!this.running) break;
      if (this.inFlight.size >= this.o.tunables.maxInFlight) await Promise.race(this.inFlight);
      else if (started === 0 && !this.poked) await this.sleep(this.o.tunables.pollMs);
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

  /** Starts what waits for a free slot, claims more when something may be due; returns how many attempts it started. */
  private async tick(): Promise<number> {
    const { maxInFlight, heldRecheckMs, pollMs } = this.o.tunables;
    const now = this.o.clock.now();
    if (performance.now() - this.heldCheckedAt >= heldRecheckMs) {
      this.heldCheckedAt = performance.now();
      await releaseHeldOfActive(this.o.db, now);
    }
    let started = await this.startQueued(now);
    const claimNow = this.wantClaim || performance.now() - this.claimedAt >= pollMs;
    if (!claimNow || this.inFlight.size >= maxInFlight || this.waitingForClaims() >= maxInFlight) return started;
    this.wantClaim = false;
    this.claimedAt = performance.now();
    const full = [...this.queued].filter(([, list]) => list.length >= CLAIM_BATCH).map(([id]) => id);
    // The claim brings its events (on Postgres in the same statement); the endpoints of the whole
    // claim come in one read (not one per attempt), when not known already.
    const claimed = await claimDueWithEvents(this.o.db, {
      workerId: this.id,
      now,
      lease: now + this.o.tunables.timeoutMs + LEASE_MARGIN_MS + QUEUE_HOLD_MS,
      limit: CLAIM_BATCH,
      excludeEndpoints: full,
      postgres: this.o.postgres,
    });
    const rows = claimed.map((c) => c.row);
    if (rows.length === 0) {
      this.moreDue.clear();
      return started;
    }
    await this.readEndpoints(new Set(rows.map((r) => r.endpoint_id)));
    const overflow: string[] = [];
    for (const entry of claimed) {
      const row = entry.row;
      let list = this.queued.get(row.endpoint_id);
      if (!list) this.queued.set(row.endpoint_id, (list = []));
      if (list.length >= QUEUE_LIMIT) {
        overflow.push(row.id);
        continue;
      }
      list.push(entry);
      this.queuedCount++;
    }
    await releaseClaims(this.o.db, this.id, overflow, now);
    // A full batch: more may be due for these endpoints; a short one: nothing else was due for endpoints not left out.
    if (rows.length === CLAIM_BATCH) {
      for (const row of rows) this.moreDue.add(row.endpoint_id);
      this.wantClaim = rows.some((row) => (this.queued.get(row.endpoint_id)?.length ?? 0) < CLAIM_BATCH);
    } else {
      const leftOut = new Set(full);
      for (const id of this.moreDue) if (!leftOut.has(id)) this.moreDue.delete(id);
    }
    started += await this.startQueued(now);
    return started;
  }

  /**
   * Waiting deliveries as a claim weighs them against maxInFlight: at most QUEUE_LIMIT per endpoint
   * (what a handoff took beyond it is paced by its endpoint, see handoffRoom, and must not stop the
   * claims of other endpoints' due deliveries).
   */
  private waitingForClaims(): number {
    let n = 0;
    for (const list of this.queued.values()) n += Math.min(list.length, QUEUE_LIMIT);
    return n;
  }

  /** Reads the endpoints not read within `endpointCacheMs` (or never). */
  private async readEndpoints(ids: ReadonlySet<string>): Promise<void> {
    const at = performance.now();
    const stale = [...ids].filter((id) => {
      const known = this.endpoints.get(id);
      return !known || at - known.readAt >= this.o.tunables.endpointCacheMs;
    });
    if (stale.length === 0) return;
    const found = new Map((await findEndpointsByIds(this.o.db, stale)).map((e) => [e.id, e]));
    for (const id of stale) this.endpoints.set(id, { row: found.get(id), readAt: at });
  }

  /**
   * Starts waiting deliveries while their endpoints have free slots (and the process has room), in
   * claim order; hands back those that waited past their hold. Returns how many it started.
   */
  private async startQueued(now: number): Promise<number> {
    const { maxInFlight, concurrencyPerEndpoint, timeoutMs } = this.o.tunables;
    const starting: Queued[] = [];
    const expired: string[] = [];
    for (const [endpointId, list] of this.queued) {
      let n = this.perEndpoint.get(endpointId) ?? 0;
      while (list.length > 0) {
        const head = list[0]!;
        if ((head.row.locked_until ?? 0) - now < timeoutMs + LEASE_MARGIN_MS) {
          expired.push(head.row.id);
        } else if (n < concurrencyPerEndpoint && this.inFlight.size + starting.length < maxInFlight) {
          starting.push(head);
          n++;
        } else {
          break;
        }
        list.shift();
        this.queuedCount--;
      }
      if (list.length === 0) this.queued.delete(endpointId);
    }
    await releaseClaims(this.o.db, this.id, expired, now);
    if (starting.length === 0) return 0;
    await this.readEndpoints(new Set(starting.map((q) => q.row.endpoint_id)));
    for (const { row, event } of starting) this.launch(row, event);
    return starting.length;
  }

  /**
   * Records an attempt with the others that end in the same turn: one transaction for all (with
   * `transact`: on Postgres one round trip, their UPDATEs as one implicit transaction) instead of one
   * statement each. Resolves with whether this dispatcher still held the delivery.
   */
  private recordAttempt(id: string, record: AttemptRecord): Promise<boolean> {
    if (!this.o.transact) return recordAttempt(this.o.db, id, this.id, record);
    return new Promise<boolean>((resolve, reject) => {
      this.pendingRecords.push({ id, record, resolve, reject });
      this.recordTimer ??= setImmediate(() => void this.flushRecords());
    });
  }

  private async flushRecords(): Promise<void> {
    this.recordTimer = null;
    const batch = this.pendingRecords.splice(0);
    if (batch.length === 0 || !this.o.transact) return;
    try {
      const held = await this.o.transact((trx) => Promise.all(batch.map(({ id, record }) => recordAttempt(trx, id, this.id, record))));
      batch.forEach(({ resolve }, i) => resolve(held[i] ?? false));
    } catch (err) {
      for (const { reject } of batch) reject(err);
    }
  }

  /**
   * Runs one attempt. Its endpoint's slot is taken until the receiver has answered (or the attempt
   * ended without a request), not until the answer is recorded: the slots bound the requests a
   * receiver has in flight, and the record waits for a group commit, one more turn of a busy event loop.
   */
  private launch(row: WebhookDeliveryRow, event: EventRow | undefined): void {
    const endpointId = row.endpoint_id;
    this.perEndpoint.set(endpointId, (this.perEndpoint.get(endpointId) ?? 0) + 1);
    let slotTaken = true;
    const freeSlot = (): void => {
      if (!slotTaken) return;
      slotTaken = false;
      const left = (this.perEndpoint.get(endpointId) ?? 1) - 1;
      if (left <= 0) this.perEndpoint.delete(endpointId);
      else this.perEndpoint.set(endpointId, left);
      this.noteFinished(endpointId);
      // A slot is free: start that endpoint's next waiting delivery at once, and claim more for it when its queue runs low.
      if (this.moreDue.has(endpointId) && (this.queued.get(endpointId)?.length ?? 0) < CLAIM_BATCH) this.wantClaim = true;
      this.poked = true;
      this.wake?.();
    };
    const tracked = this.attempt(row, this.endpoints.get(endpointId)?.row, event, freeSlot)
      .catch((err: unknown) => this.o.logger.error({ err, webhook_delivery_id: row.id }, 'webhooks: an attempt could not be recorded; its claim lapses and it is tried again'))
      .finally(() => {
        this.inFlight.delete(tracked);
        freeSlot();
        this.poked = true; // room under maxInFlight
        this.wake?.();
      });
    this.inFlight.add(tracked);
  }

  /** Sends one delivery and records the outcome; `answered` is called once the receiver has answered (or failed to). */
  private async attempt(row: WebhookDeliveryRow, endpoint: WebhookEndpointRow | undefined, event: EventRow | undefined, answered: () => void): Promise<void> {
    const { db, clock } = this.o;
    if (!endpoint) {
      // Its endpoint was deleted (with its deliveries) after a process wrote this one from a stale cache entry.
      await dropClaimed(db, this.id, row.id);
      return;
    }
    const base = { last_attempt_at: row.last_attempt_at, last_response_status: row.last_response_status, last_response_ms: row.last_response_ms, last_response_body: row.last_response_body, last_error: row.last_error };
    if (endpoint.is_active !== 1) {
      await this.recordAttempt(row.id, { ...base, status: 'held', attempts: row.attempts, next_attempt_at: null, updated_at: clock.now() });
      return;
    }
    if (!event) {
      await this.recordAttempt(row.id, { ...base, status: 'failed', attempts: row.attempts, next_attempt_at: null, last_error: 'the event is no longer stored', updated_at: clock.now() });
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
    answered();
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
      await this.recordAttempt(row.id, { ...seen, status: 'succeeded', next_attempt_at: null });
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
      this.endpoints.delete(row.endpoint_id);
      this.o.logger.warn({ webhook_delivery_id: row.id, integration_id: row.integration_id }, 'webhooks: the receiver answered 410; endpoint disabled');
      this.o.onAttempt?.('disabled');
      return;
    }
    const delay = nextRetryDelay(attempts, random, outcome.retryAfterMs);
    if (delay === null) {
      await this.recordAttempt(row.id, { ...seen, status: 'failed', next_attempt_at: null });
      this.o.onAttempt?.('failed');
      return;
    }
    await this.recordAttempt(row.id, { ...seen, status: 'pending', next_attempt_at: clock.now() + delay });
    this.o.onAttempt?.('retry');
  }
}
