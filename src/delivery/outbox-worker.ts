import type { Logger } from 'pino';
import type { Clock, Random } from '../domain/clock.js';
import { base62 } from '../domain/ids.js';
import { claimDue, markDone, release, releaseAll, type OutboxRow } from '../store/outbox-repo.js';
import type { Db } from '../store/tables.js';

/** What a handler says about one outbox message. */
export type JobOutcome = { done: true } | { done: false; retryable: boolean; error: string };

export type OutboxHandler = (row: OutboxRow) => Promise<JobOutcome>;

/** Backoff between attempts of one message; after the last, it is buried as `dead`. */
const RETRY_DELAYS_MS = [2_000, 10_000, 30_000, 120_000, 600_000];

export interface OutboxWorkerOptions {
  db: Db;
  postgres: boolean;
  clock: Clock;
  random: Random;
  logger: Logger;
  handlers: Record<string, OutboxHandler>;
  /** Called when a message is given up for good (for example to mark its delivery failed). */
  onDead?: (row: OutboxRow, error: string) => Promise<void>;
  leaseMs?: number;
  pollMs?: number;
  batch?: number;
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
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: OutboxWorkerOptions) {
    this.id = `wrk_${base62(o.random, 12)}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Asks the worker to look for work now (called after a commit that enqueued something). */
  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  /** Stops claiming, waits for the messages in hand, and releases any claim not finished. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
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

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.tick();
      } catch (err) {
        this.o.logger.error({ err }, 'outbox: claim failed');
      }
      if (claimed === 0 && this.running && !this.poked) await this.sleep(this.o.pollMs ?? 500);
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

  private async tick(): Promise<number> {
    const rows = await claimDue(this.o.db, this.id, this.o.clock.now(), this.o.leaseMs ?? 30_000, this.o.batch ?? 20, this.o.postgres);
    await Promise.all(rows.map((row) => this.track(this.process(row))));
    return rows.length;
  }

  private async track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  private async process(row: OutboxRow): Promise<void> {
    const handler = this.o.handlers[row.kind];
    let outcome: JobOutcome;
    try {
      outcome = handler ? await handler(row) : { done: false, retryable: false, error: `no handler for ${row.kind}` };
    } catch (err) {
      this.o.logger.error({ err, outbox_id: row.id, kind: row.kind }, 'outbox: handler threw');
      outcome = { done: false, retryable: true, error: err instanceof Error ? err.message : String(err) };
    }
    if (outcome.done) {
      await markDone(this.o.db, row.id, this.id);
      return;
    }
    const delay = outcome.retryable ? RETRY_DELAYS_MS[row.attempts - 1] : undefined;
    const retryAt = delay === undefined ? null : this.o.clock.now() + delay;
    await release(this.o.db, row.id, this.id, { retryAt, error: outcome.error });
    if (retryAt === null) {
      this.o.logger.warn({ outbox_id: row.id, kind: row.kind, error: outcome.error }, 'outbox: message given up');
      await this.o.onDead?.(row, outcome.error);
    }
  }
}
