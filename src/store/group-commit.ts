import type BetterSqlite3 from 'better-sqlite3';

/** A FIFO lock for the one SQLite connection: a holder runs its statements with no one in between. */
export class Mutex {
  #locked = false;
  readonly #queue: Array<() => void> = [];

  get locked(): boolean {
    return this.#locked;
  }

  lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  unlock(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#locked = false;
  }
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for the embedded store. Writes join one open SQLite transaction (`BEGIN IMMEDIATE`)
 * and a single COMMIT makes all of them durable `windowMs` later (0: once the event loop has run
 * the other requests that are ready). Each writer awaits `durable()` before it answers, so no
 * answer depends on a write that a crash could still undo; a batch that fails to commit rejects
 * every waiter.
 *
 * Why: a COMMIT in WAL mode writes every dirty page to the log (and now and then checkpoints), which
 * cost more than the statements of a send; one commit for the requests of a whole turn of the event
 * loop writes shared pages once.
 */
export class GroupCommit {
  #open = false;
  #scheduled = false;
  #waiters: Waiter[] = [];
  #closed = false;
  /**
   * Work to run once the writes made so far are committed: level 0 belongs to the group transaction,
   * each level above to a savepoint open inside it (a Kysely transaction, a direct transaction, a
   * named savepoint). Releasing a savepoint hands its work to the level below; rolling it back drops
   * it; the group's COMMIT runs level 0's; a failed COMMIT drops everything.
   */
  #afterCommit: Array<Array<() => void>> = [[]];
  // Prepared once: `exec` parses its SQL on every call.
  readonly #begin: BetterSqlite3.Statement;
  readonly #commitStatement: BetterSqlite3.Statement;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    /** Held while committing, so a commit never lands in the middle of someone's transaction. */
    private readonly mutex: Mutex,
    private readonly windowMs = 0,
  ) {
    this.#begin = sqlite.prepare('BEGIN IMMEDIATE');
    this.#commitStatement = sqlite.prepare('COMMIT');
  }

  /** Whether a group transaction is open (writes since the last commit are not yet durable). */
  get open(): boolean {
    return this.#open;
  }

  /** Opens the group transaction if none is open: writes from now on are part of it. */
  join(): void {
    if (this.#open) return;
    if (this.#closed) throw new Error('the store is closed');
    this.#begin.run();
    this.#open = true;
    this.#schedule();
  }

  /**
   * Runs `work` after the COMMIT that makes the writes made so far durable, unless the savepoint
   * they were made in (or the whole group) is rolled back first: then never. With no write pending it
   * runs at the next COMMIT. Its errors are ignored (it must not throw).
   */
  afterCommit(work: () => void): void {
    this.#afterCommit[this.#afterCommit.length - 1]!.push(work);
  }

  /** A savepoint was opened: work registered from now on belongs to it. */
  enterSavepoint(): void {
    this.#afterCommit.push([]);
  }

  /** The innermost savepoint was released (its work goes to the level below) or rolled back and released (dropped). */
  leaveSavepoint(kept: boolean): void {
    if (this.#afterCommit.length === 1) return; // a fatal error ended the group transaction: nothing open
    const work = this.#afterCommit.pop()!;
    if (kept) this.#afterCommit[this.#afterCommit.length - 1]!.push(...work);
  }

  /** The innermost savepoint was rolled back to (it stays open): its work is dropped. */
  rollBackSavepoint(): void {
    if (this.#afterCommit.length > 1) this.#afterCommit[this.#afterCommit.length - 1] = [];
  }

  /** Settles once every write made so far is committed (at once when nothing is pending). */
  durable(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Commits now (under the mutex). */
  async flush(): Promise<void> {
    await this.mutex.lock();
    try {
      this.#commit();
    } finally {
      this.mutex.unlock();
    }
  }

  /** Commits what is pending and refuses new writes. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const run = (): void => {
      this.#scheduled = false;
      void this.flush();
    };
    if (this.windowMs > 0) setTimeout(run, this.windowMs);
    else setImmediate(run);
  }

  #commit(): void {
    if (!this.#open) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#open = false;
    // Savepoints never outlive their holder, and a commit runs only between holders: level 0 is all there is.
    const afterCommit = this.#afterCommit[0]!;
    this.#afterCommit = [[]];
    try {
      this.#commitStatement.run();
    } catch (error) {
      if (this.sqlite.inTransaction) {
        try {
          this.sqlite.exec('ROLLBACK');
        } catch {
          // The connection already ended the transaction itself.
        }
      }
      for (const waiter of waiters) waiter.reject(error);
      return;
    }
    for (const waiter of waiters) waiter.resolve();
    for (const work of afterCommit) {
      try {
        work();
      } catch {
        // after-commit work must not throw; if it does, the commit stands and the rest still runs
      }
    }
  }
}
