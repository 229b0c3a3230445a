import type { Logger } from 'pino';
import type { Clock, Random } from '../domain/clock.js';
import { base62 } from '../domain/ids.js';
import { claimDue, extendLeases, markDone, release, releaseAll, type OutboxRow } from '../store/outbox-repo.js';
import type { Db, Executor } from '../store/tables.js';

/** Writes a handler asks for; the worker commits them with the message's new state, batched. */
export type Persist = (trx: Executor) => Promise<void>;

/** What a handler says about one outbox message. */
export type JobOutcome =
  | { done: true; persist?: Persist; /** Runs after the commit that recorded this outcome (never when it rolled back). */ afterCommit?: () => void }
  | { done: false; retryable: boolean; error: string; persist?: Persist; /** Wait at least this long before the next attempt (Retry-After). */ retryAfterMs?: number };

export type OutboxHandler = (row: OutboxRow) => Promise<JobOutcome>;

/** Runs an outcome's after-commit work; its failure is not the delivery's. */
function afterCommit(outcome: JobOutcome): void {
  if (!outcome.done || !outcome.afterCommit) return;
  try {
    outcome.afterCommit();
  } catch {
    // A wake-up lost costs only latency: long-pollers still end at their deadline.
  }
}

/** How long a claim holds without renewal (the worker renews it every third of this while working). */
export const DEFAULT_LEASE_MS = 5_000;

/** Backoff between attempts of one message; after the last, it is buried as `dead`. */
const RETRY_DELAYS_MS = [2_000, 10_000, 30_000, 120_000, 600_000];

export interface OutboxWorkerOptions {
  db: Db;
  postgres: boolean;
  /**
   * Runs a batch's records in one transaction whose statements may run concurrently and share round
   * trips (Postgres: pg-pipeline.ts); without it they run one after another in a Kysely transaction.
   */
  pipelined?: <T>(work: (db: Db) => Promise<T>) => Promise<T>;
  clock: Clock;
  random: Random;
  logger: Logger;
  handlers: Record<string, OutboxHandler>;
  /** Called (inside the batch transaction) when a message is given up for good, e.g. to mark its delivery failed. */
  onDead?: (trx: Executor, row: OutboxRow, error: string) => Promise<void>;
  leaseMs?: number;
  pollMs?: number;
  /** How long a poke waits to gather more work into one batch (default 5 ms). */
  gatherMs?: number;
  batch?: number;
  /** Batches in flight at once while running (default 4): a slow provider does not hold up the rest. */
  concurrency?: number;
}

/**
 * Delivers what the transactional outbox holds: claims due messages under a lease, runs their
 * handler, and marks them done or schedules a retry. A message claimed by a process that died is
 * claimed again once its lease lapses, so accepted work is never lost.
 */
export class OutboxWorker {
  readonly id: string;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private poked = false;
  private gather: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  /** Messages enqueued already claimed by this worker, handed over after their commit. */
  private readonly handedOver: OutboxRow[] = [];
  /** Ids claimed by this worker and not yet recorded (handed over, or in a batch): never taken twice. */
  private readonly inHand = new Set<string>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** The store may hold due messages this worker was not handed (poke, a full claim, the start). */
  private storeDue = true;
  /** When the store was last looked at for due messages (performance.now()). */
  private storeClaimedAt = -Infinity;

  constructor(private readonly o: OutboxWorkerOptions) {
    this.id = `wrk_${base62(o.random, 12)}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // One lease heartbeat for everything in hand (handed-over messages waiting for a batch too):
    // a claim lapses only when this process stops renewing it, i.e. when it died.
    const leaseMs = this.o.leaseMs ?? DEFAULT_LEASE_MS;
    this.heartbeat = setInterval(() => {
      if (this.inHand.size > 0) this.renewLeases(leaseMs, [...this.inHand]);
    }, Math.max(250, Math.floor(leaseMs / 3)));
    this.heartbeat.unref();
    this.loop = this.run();
  }

  private renewLeases(leaseMs: number, ids: readonly string[]): void {
    extendLeases(this.o.db, this.id, this.o.clock.now() + leaseMs, ids).catch((err: unknown) => this.o.logger.warn({ err }, 'outbox: lease renewal failed'));
  }

  /**
   * Asks the worker to look for work soon (called after a commit that enqueued something). It waits
   * `gatherMs` first so that messages accepted together are delivered and recorded as one batch.
   */
  poke(): void {
    this.storeDue = true;
    this.gatherSoon();
  }

  private gatherSoon(): void {
    if (this.gather) return;
    this.gather = setTimeout(() => {
      this.gather = null;
      this.poked = true;
      this.wake?.();
    }, this.o.gatherMs ?? 5);
    this.gather.unref();
  }

  /**
   * A claim for a message about to be enqueued (see handoff), or null when this worker is not
   * taking work: the message is then enqueued unclaimed, for any worker.
   */
  claimForHandoff(): { workerId: string; until: number } | null {
    return this.running ? { workerId: this.id, until: this.o.clock.now() + (this.o.leaseMs ?? DEFAULT_LEASE_MS) } : null;
  }

  /**
   * Takes a committed message that was enqueued with claimForHandoff's claim: it is delivered
   * without a claim query. Like any claim it lapses after the lease if this process dies first, and
   * stop() releases it, so it is never lost.
   */
  handoff(row: OutboxRow): void {
    if (!this.running) return; // stop() released it, or its lease lapses: another worker claims it
    this.handedOver.push(row);
    this.inHand.add(row.id);
    this.gatherSoon(); // handed over: nothing new in the store to look for
  }

  /** Stops claiming, waits for the messages in hand, and releases any claim not finished. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.gather) clearTimeout(this.gather);
    this.gather = null;
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.handedOver.length = 0; // still claimed in the store: releaseAll hands them back
    this.inHand.clear();
    await releaseAll(this.o.db, this.id).catch((err: unknown) => this.o.logger.warn({ err }, 'outbox: could not release claims'));
  }

  /** Runs until nothing is due (tests and the CLI use it to drain the queue). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.tick();
      total += n;
      if (n === 0) return total;
    }
  }

  /** Claims and starts batches, up to `concurrency` in flight, until stopped. */
  private async run(): Promise<void> {
    const concurrency = Math.max(1, this.o.concurrency ?? 4);
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.tick(false);
      } catch (err) {
        this.o.logger.error({ err }, 'outbox: claim failed');
      }
      if (this.inFlight.size >= concurrency) await Promise.race(this.inFlight);
      else if (claimed === 0 && this.running && !this.poked) await this.sleep(this.o.pollMs ?? 500);
      this.poked = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  /**
   * Claims a batch, runs the handlers concurrently, then records every outcome (and the writes the
   * handlers asked for) in ONE transaction: one commit per batch instead of several per message,
   * which is most of what a send costs on SQLite. A crash before that commit leaves the claims to
   * lapse, and the batch is delivered again (sandbox captures are deduplicated on the outbox id).
   */
  private async tick(wait = true): Promise<number> {
    const leaseMs = this.o.leaseMs ?? DEFAULT_LEASE_MS;
    const batchSize = this.o.batch ?? 50;
    const rows = this.handedOver.splice(0, batchSize);
    // Due messages in the store (retries, another process's, unclaimed ones, after a restart) are
    // claimed when something may be due there (a poke, a full claim), else at least every `pollMs`:
    // a steady stream of handovers neither starves them nor pays a claim query per batch (the query
    // steps over every message in hand). Draining (wait) always looks.
    const pollMs = this.o.pollMs ?? 500;
    if (wait || this.storeDue || performance.now() - this.storeClaimedAt >= pollMs) {
      this.storeDue = false;
      this.storeClaimedAt = performance.now();
      const room = Math.max(1, batchSize - rows.length);
      const due = await claimDue(this.o.db, this.id, this.o.clock.now(), leaseMs, room, this.o.postgres);
      if (due.length === room) this.storeDue = true; // a full claim: more may be due
      // A message already in hand (its claim renewed late) is not taken a second time.
      for (const row of due) if (!this.inHand.has(row.id)) rows.push(row);
    }
    if (rows.length === 0) return 0;
    for (const row of rows) this.inHand.add(row.id);
    // A short lease, renewed while the batch is in hand (by the running worker's heartbeat, or here
    // when draining): a crashed worker's claims return within seconds, and a slow provider does not
    // lose its claim to another worker.
    const ids = rows.map((row) => row.id);
    const heartbeat = this.running ? null : setInterval(() => this.renewLeases(leaseMs, ids), Math.max(250, Math.floor(leaseMs / 3)));
    heartbeat?.unref();
    const batch = (async () => {
      const results = await Promise.all(rows.map(async (row) => ({ row, outcome: await this.run1(row) })));
      try {
        if (this.o.pipelined) {
          // Postgres: the messages are recorded side by side, so their statements share round trips.
          await this.o.pipelined(async (db) => {
            const settled = await Promise.allSettled(results.map(({ row, outcome }) => this.record(db, row, outcome)));
            const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
            if (failed) throw failed.reason;
          });
        } else {
          await this.o.db.transaction().execute(async (trx) => {
            for (const { row, outcome } of results) await this.record(trx, row, outcome);
          });
        }
        for (const { outcome } of results) afterCommit(outcome);
      } catch (err) {
        // One bad write must not hold the whole batch hostage: record each on its own.
        this.o.logger.warn({ err }, 'outbox: batch commit failed; recording messages one by one');
        for (const { row, outcome } of results) await this.recordAlone(row, outcome);
      }
    })();
    // A batch never rejects: with the store unreachable its outcomes stay unrecorded, the claims lapse
    // and the messages are delivered again later (at least once). Nothing may escape as an unhandled
    // rejection, now that the run loop does not wait for each batch.
    const tracked = batch
      .catch((err: unknown) => this.o.logger.error({ err, outbox_ids: rows.map((r) => r.id) }, 'outbox: could not record a batch; its claims will lapse and it is retried'))
      .finally(() => {
        if (heartbeat) clearInterval(heartbeat);
        for (const row of rows) this.inHand.delete(row.id);
        this.inFlight.delete(tracked);
      });
    this.inFlight.add(tracked);
    if (wait) await tracked;
    return rows.length;
  }

  private async run1(row: OutboxRow): Promise<JobOutcome> {
    const handler = this.o.handlers[row.kind];
    try {
      return handler ? await handler(row) : { done: false, retryable: false, error: `no handler for ${row.kind}` };
    } catch (err) {
      this.o.logger.error({ err, outbox_id: row.id, kind: row.kind }, 'outbox: handler threw');
      return { done: false, retryable: true, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private async recordAlone(row: OutboxRow, outcome: JobOutcome): Promise<void> {
    try {
      await this.o.db.transaction().execute((trx) => this.record(trx, row, outcome));
      afterCommit(outcome);
    } catch (err) {
      const error = `could not record the outcome: ${err instanceof Error ? err.message : String(err)}`;
      this.o.logger.error({ err, outbox_id: row.id }, 'outbox: recording failed');
      await this.o.db.transaction().execute((trx) => this.record(trx, row, { done: false, retryable: true, error }));
    }
  }

  private async record(trx: Executor, row: OutboxRow, outcome: JobOutcome): Promise<void> {
    await outcome.persist?.(trx);
    if (outcome.done) {
      await markDone(trx, row.id, this.id);
      return;
    }
    const scheduled = outcome.retryable ? RETRY_DELAYS_MS[row.attempts - 1] : undefined;
    const delay = scheduled === undefined ? undefined : Math.max(scheduled, outcome.retryAfterMs ?? 0);
    const retryAt = delay === undefined ? null : this.o.clock.now() + delay;
    await release(trx, row.id, this.id, { retryAt, error: outcome.error });
    if (retryAt === null) {
      this.o.logger.warn({ outbox_id: row.id, kind: row.kind, error: outcome.error }, 'outbox: message given up');
      await this.o.onDead?.(trx, row, outcome.error);
    }
  }
}
