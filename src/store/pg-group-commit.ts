import type { Kysely } from 'kysely';
import type pg from 'pg';
import { isConnectionError, PipelinedTransaction, pipelinedTransaction, withPoolClient } from './pg-pipeline.js';

export interface PgGroupCommitOptions {
  /** Members of one group at most (OTPGATE_POSTGRES_GROUP_MAX). */
  maxMembers: number;
}

interface Member {
  work: (trx: PipelinedTransaction) => Promise<unknown>;
  /** The advisory lock the work takes (lockIdentifier's key), if any: no two members of a group share one. */
  lockKey: string | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What happened to a group (for tests and the metrics a benchmark reads). */
export interface GroupCommitStats {
  /** Groups committed as one transaction. */
  groups: number;
  /** Transactions committed inside them. */
  members: number;
  /** Groups rolled back and run again one transaction at a time (a member failed, or a deadlock). */
  retriedAlone: number;
}

/**
 * Group commit on Postgres: the transactions asked for in the same turn of the event loop run as one
 * transaction on one connection, their statements interleaved in the pipelined round trips
 * (pg-pipeline.ts), and one COMMIT makes all of them durable; each caller's promise settles after it.
 * A send's two round trips then carry the statements of every send ready with it, and Postgres pays
 * one transaction start, one commit and one WAL flush for all of them instead of one each.
 *
 * Why not savepoints: the members' statements are interleaved, and rolling back to a savepoint would
 * undo the later members' statements too. Instead a group either commits whole or is rolled back
 * whole; when any member failed (its own error, a statement that failed, a deadlock, the commit), the
 * group is rolled back and every member runs again alone in its own pipelined transaction, so one
 * request's failure never fails the others (a member that failed on its own fails again, with its
 * own error). A work may therefore run twice: it must only write through the transaction it is given
 * (the callers that opt in build rows and events, and act on them after the promise settles).
 *
 * The per-identifier serialization holds: members say which advisory lock they take (`lockKey`), a
 * group never holds two members with the same key (advisory locks are re-entrant inside one
 * transaction), and the members start in the order of their keys, so every group takes its locks in
 * the same order, before any other statement of its members: groups in several processes queue on a
 * lock instead of deadlocking on each other's (and Postgres's deadlock detection, with the retry
 * alone, is the backstop for row locks taken in another order).
 */
export class PgGroupCommit {
  #pending: Member[] = [];
  #scheduled = false;
  readonly stats: GroupCommitStats = { groups: 0, members: 0, retriedAlone: 0 };

  constructor(
    private readonly kysely: Kysely<never>,
    private readonly pool: pg.Pool,
    private readonly options: PgGroupCommitOptions,
  ) {}

  /** Runs `work` in the next group; settles once it is committed (or failed alone). */
  run<T>(work: (trx: PipelinedTransaction) => Promise<T>, lockKey?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ work, lockKey, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Once the event loop has run the other requests that are ready: they join this group.
    setImmediate(() => {
      this.#scheduled = false;
      this.#startGroup();
    });
  }

  #startGroup(): void {
    const members: Member[] = [];
    const later: Member[] = [];
    const keys = new Set<string>();
    for (const member of this.#pending) {
      if (members.length >= this.options.maxMembers || (member.lockKey !== undefined && keys.has(member.lockKey))) {
        later.push(member);
        continue;
      }
      if (member.lockKey !== undefined) keys.add(member.lockKey);
      members.push(member);
    }
    this.#pending = later;
    if (later.length > 0) this.#schedule();
    if (members.length === 1) {
      this.#runAlone(members[0]!);
      return;
    }
    members.sort(byLockKey);
    void this.#runGroup(members);
  }

  async #runGroup(members: Member[]): Promise<void> {
    let results: unknown[] | undefined;
    try {
      results = await withPoolClient(this.pool, async (client) => {
        const trx = new PipelinedTransaction(this.kysely, client);
        // Started in key order, in one go: each work's first statement (its lock) is queued before any member's second.
        const settled = await Promise.allSettled(members.map((member) => new Promise((resolve) => resolve(member.work(trx)))));
        if (settled.some((outcome) => outcome.status === 'rejected')) {
          await trx.rollback();
          return undefined;
        }
        try {
          await trx.commit();
        } catch (error) {
          if (isConnectionError(error)) throw error;
          return undefined; // commit() rolled back: every member runs again alone
        }
        return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value);
      });
    } catch (error) {
      // No connection, or it broke (perhaps after the COMMIT was sent: its outcome is unknown, so
      // nothing is run again): every member fails as its own transaction would have.
      for (const member of members) member.reject(error);
      return;
    }
    if (results) {
      this.stats.groups++;
      this.stats.members += members.length;
      members.forEach((member, i) => member.resolve(results[i]));
      return;
    }
    this.stats.retriedAlone++;
    for (const member of members) this.#runAlone(member);
  }

  #runAlone(member: Member): void {
    pipelinedTransaction(this.kysely, this.pool, member.work).then(member.resolve, member.reject);
  }
}

function byLockKey(a: Member, b: Member): number {
  if (a.lockKey === b.lockKey) return 0;
  if (a.lockKey === undefined) return 1; // unlocked members after the locking ones
  if (b.lockKey === undefined) return -1;
  return a.lockKey < b.lockKey ? -1 : 1;
}

