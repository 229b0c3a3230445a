import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { QueryRunner } from '../store/prepared.js';
import { WriteBehindCounters, type CounterLimiter } from './write-behind-counters.js';

export type LimitOutcome = { ok: true } | { ok: false; msBeforeNext: number };
/** A failure reserved before a code is compared (`last`: the budget's final one), or refused: the budget is spent. */
export type Reservation = { ok: true; last: boolean } | { ok: false };
/** A send or a check let through, or refused: by a running lockout (not counted), or by its limit. */
export type Admission = { ok: true } | { ok: false; locked: true; msLeft: number } | { ok: false; locked: false; msBeforeNext: number };
export type LockStatus = { locked: false } | { locked: true; msLeft: number };
export interface FailureRule {
  maxFailures: number;
  windowS: number;
  durationS: number;
}

/**
 * Per-identifier counters and lockouts. Backed by rate-limiter-flexible; windows start at the first
 * request they count (its fixed-window-from-first-hit semantics).
 */
export interface Limits {
  /** Counts one event against `points` per `durationS` for `key`. */
  consume(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<LimitOutcome>;
  /**
   * The lockout check and the count of one send or check, together (on Redis one round trip, a
   * script): refused while the key is locked (nothing counted), else counted as `consume` does.
   */
  admit(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission>;
  /**
   * A check's admission (as `admit`) and, once admitted, the reservation of one failure of `rule`'s
   * budget (as `reserveFailure`): one script on Redis. The caller gives the reservation back
   * (settleReservation) when the code is not compared after all (no pending verification).
   */
  admitCheck(key: string, points: number, durationS: number, rule: FailureRule): Promise<{ admission: Admission; reservation: Reservation | null }>;
  /**
   * Settles a reserved failure that was not spent on a wrong code: when a right code's approval was
   * recorded the failures are reset (the budget counts afresh); otherwise (it lost a race, its write
   * failed, the code was not compared) it is given back.
   */
  settleReservation(key: string, rule: FailureRule, approved: boolean): Promise<void>;
  /**
   * Postgres alone (postgres-limits.ts): a check's admission and reservation (as `admitCheck`) and
   * `read` (the check's read of its verification) in one round trip, as one multi-statement query.
   * Absent elsewhere: the caller runs the two side by side.
   */
  admitCheckAlong?<T>(read: (runner: QueryRunner) => Promise<T>, key: string, points: number, durationS: number, rule: FailureRule): Promise<{ admission: Admission; reservation: Reservation | null; read: T }>;
  /**
   * Postgres alone: an approval's reset of the failures (`settleReservation(…, true)`) written in the
   * approval's own transaction, so it costs no round trip of its own. Absent elsewhere.
   */
  resetFailuresIn?(trx: QueryRunner, key: string): Promise<void>;
  /**
   * Postgres alone: `admit` as a statement of the caller's transaction (a send's: it goes in the
   * send's first round trip, with its lock and its read). Its count is committed with the
   * transaction, and rolled back with it. Absent elsewhere.
   */
  admitIn?(trx: QueryRunner, name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission>;
  lockStatus(key: string): Promise<LockStatus>;
  /** Counts a failed check; locks the key for `durationS` when failures reach `maxFailures` within `windowS`. */
  recordFailure(key: string, rule: { maxFailures: number; windowS: number; durationS: number }): Promise<{ lockedNow: boolean }>;
  resetFailures(key: string): Promise<void>;
  /**
   * Takes one of the `maxFailures` failures allowed per `windowS` *before* a code is compared, in one
   * atomic count (so concurrent checks cannot share a failure): `last` when it took the final one.
   * Refused when the budget is spent (by failures, or by checks still comparing).
   */
  reserveFailure(key: string, rule: FailureRule): Promise<Reservation>;
  /** Gives a reserved failure back (the code was right). */
  releaseFailure(key: string, rule: FailureRule): Promise<void>;
  /** Whether the failure budget has room now (a read; reserves nothing). */
  failureRoom(key: string, rule: FailureRule): Promise<boolean>;
  /** Locks the key for `durationS`; the failure budget stays spent until then, and counts afresh after. */
  lock(key: string, rule: FailureRule): Promise<void>;
  /** Adds one to a counter whose window of `durationS` starts at its first count; returns the count. Never refuses. */
  tally(name: string, key: string, durationS: number): Promise<number>;
  /** A counter's current count (0 when none runs). */
  peek(name: string, key: string, durationS: number): Promise<number>;
}

/** Counters never refuse: their limit is out of reach. */
const UNLIMITED = 2 ** 30;

type Factory = (opts: { keyPrefix: string; points: number; duration: number }) => CounterLimiter;

const LIMITS_TABLE = 'rate_limits';

/** The prefix of a counter's keys (rate-limiter-flexible stores `<prefix>:<key>`); one place for every store. */
export function counterPrefix(name: string): string {
  return `otpg_${name}`;
}

/** The stored key of `name`'s counter for `key`, as rate-limiter-flexible writes it. */
export function counterKey(name: string, key: string): string {
  return `${counterPrefix(name)}:${key}`;
}

/** rate-limiter-flexible (or the embedded store's write-behind counters) over a factory of limiters, cached per rule. */
export class FlexibleLimits implements Limits {
  private readonly cache = new Map<string, CounterLimiter>();

  constructor(
    private readonly factory: Factory,
    /** Writes what is still only in memory (the embedded store's counters); called before the store closes. */
    readonly flush: () => Promise<void> = async () => {},
  ) {}

  /**
   * Persisted in the embedded SQLite file, so a restart does not reset counters or lockouts: counted
   * in memory and written behind (see WriteBehindCounters). With `store`, the rows changed within
   * `flushMs` (0: a turn) are written together under the store's connection lock and join its group
   * commit (no COMMIT of their own); they are not waited for: a crash may lose the last `flushMs` of
   * counts. Without it (a bare handle), each change is written at once.
   */
  static sqlite(
    db: BetterSqlite3.Database,
    store?: { exclusive<T>(work: () => Promise<T>): Promise<T> },
    options: { maxKeys?: number; flushMs?: number; now?: () => number } = {},
  ): FlexibleLimits {
    // Migration 005 creates it; this keeps the limiter usable on a bare handle (unit tests).
    db.exec(`CREATE TABLE IF NOT EXISTS ${LIMITS_TABLE} (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)`);
    const counters = new WriteBehindCounters(db, {
      table: LIMITS_TABLE,
      exclusive: store ? (work) => store.exclusive(work) : undefined,
      maxKeys: options.maxKeys ?? 100_000,
      flushMs: options.flushMs ?? 0,
      now: options.now,
    });
    return new FlexibleLimits(
      (opts) => counters.limiter(opts.keyPrefix, opts.points, opts.duration),
      store ? () => store.exclusive(async () => counters.flushNow()) : undefined,
    );
  }

  /** The in-memory twin, for tests and throwaway runs. */
  static memory(): FlexibleLimits {
    return new FlexibleLimits((opts) => new RateLimiterMemory(opts));
  }

  private limiter(prefix: string, points: number, duration: number): CounterLimiter {
    const id = `${prefix}:${points}:${duration}`;
    let limiter = this.cache.get(id);
    if (!limiter) {
      // The key prefix does not include the numbers: a policy change applies to the running count.
      limiter = this.factory({ keyPrefix: counterPrefix(prefix), points, duration });
      this.cache.set(id, limiter);
    }
    return limiter;
  }

  async consume(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<LimitOutcome> {
    try {
      await this.limiter(name, points, durationS).consume(key);
      return { ok: true };
    } catch (err) {
      if (err instanceof RateLimiterRes) return { ok: false, msBeforeNext: err.msBeforeNext };
      throw err;
    }
  }

  async admit(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission> {
    const lock = await this.lockStatus(key);
    if (lock.locked) return { ok: false, locked: true, msLeft: lock.msLeft };
    const counted = await this.consume(name, key, points, durationS);
    return counted.ok ? counted : { ok: false, locked: false, msBeforeNext: counted.msBeforeNext };
  }

  async admitCheck(key: string, points: number, durationS: number, rule: FailureRule): Promise<{ admission: Admission; reservation: Reservation | null }> {
    const admission = await this.admit('check', key, points, durationS);
    return { admission, reservation: admission.ok ? await this.reserveFailure(key, rule) : null };
  }

  async settleReservation(key: string, rule: FailureRule, approved: boolean): Promise<void> {
    // Approved: the reset forgets the reservation with the rest (giving it back first changes nothing).
    if (approved) return this.resetFailures(key);
    // Given back only while failures are counted: after a reset by the check that approved, a give-back
    // would make the next budget larger than max_failures.
    const current = await this.limiter('fail', rule.maxFailures, rule.windowS).get(key);
    if (current && current.consumedPoints > 0 && current.msBeforeNext !== 0) await this.releaseFailure(key, rule);
  }

  async lockStatus(key: string): Promise<LockStatus> {
    const res = await this.limiter('lock', 1, 1).get(key);
    if (res && res.consumedPoints > 1 && res.msBeforeNext > 0) return { locked: true, msLeft: res.msBeforeNext };
    return { locked: false };
  }

  async recordFailure(key: string, rule: { maxFailures: number; windowS: number; durationS: number }): Promise<{ lockedNow: boolean }> {
    const failures = this.limiter('fail', rule.maxFailures, rule.windowS);
    const consumed = await this.countFailure(failures, key);
    if (consumed < rule.maxFailures) return { lockedNow: false };
    await this.limiter('lock', 1, 1).block(key, rule.durationS);
    await failures.delete(key); // counting starts afresh once the lock ends
    return { lockedNow: true };
  }

  async reserveFailure(key: string, rule: FailureRule): Promise<Reservation> {
    const failures = this.limiter('fail', rule.maxFailures, rule.windowS);
    // A budget already spent is refused on a read: a refused consume would still count (rate-limiter-
    // flexible counts it), and those landing after a right code reset the budget made the next lock
    // come early. The consume below stays the atomic gate; only a check racing this read can overcount.
    const current = await failures.get(key);
    if (current && current.msBeforeNext > 0 && current.consumedPoints >= rule.maxFailures) return { ok: false };
    const consumed = await this.countFailure(failures, key);
    // Over the budget: refused (a policy lowered mid-window leaves a larger running count: spent too).
    return consumed <= rule.maxFailures ? { ok: true, last: consumed >= rule.maxFailures } : { ok: false };
  }

  /** Counts one failure and returns the running count, refused or not (a refused consume counts too). */
  private async countFailure(failures: CounterLimiter, key: string): Promise<number> {
    try {
      return (await failures.consume(key)).consumedPoints;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      return err.consumedPoints;
    }
  }

  async releaseFailure(key: string, rule: FailureRule): Promise<void> {
    await this.limiter('fail', rule.maxFailures, rule.windowS).reward(key, 1);
  }

  async failureRoom(key: string, rule: FailureRule): Promise<boolean> {
    const res = await this.limiter('fail', rule.maxFailures, rule.windowS).get(key);
    return !res || res.msBeforeNext <= 0 || res.consumedPoints < rule.maxFailures;
  }

  async lock(key: string, rule: FailureRule): Promise<void> {
    await this.limiter('lock', 1, 1).block(key, rule.durationS);
    // Not deleted: a fresh budget now would let checks that passed the lock check compare again.
    await this.limiter('fail', rule.maxFailures, rule.windowS).block(key, rule.durationS);
  }

  async tally(name: string, key: string, durationS: number): Promise<number> {
    const res = await this.limiter(`tally_${name}`, UNLIMITED, durationS).consume(key);
    return res.consumedPoints;
  }

  async peek(name: string, key: string, durationS: number): Promise<number> {
    const res = await this.limiter(`tally_${name}`, UNLIMITED, durationS).get(key);
    return res && res.msBeforeNext > 0 ? res.consumedPoints : 0;
  }

  async resetFailures(key: string): Promise<void> {
    // Every cached failure limiter: the in-memory store keeps one map per limiter object.
    const failureLimiters = [...this.cache.entries()].filter(([id]) => id.startsWith('fail:')).map(([, limiter]) => limiter);
    await Promise.all((failureLimiters.length ? failureLimiters : [this.limiter('fail', 1, 1)]).map((l) => l.delete(key)));
  }
}

/** rate-limiter-flexible on Postgres, on migration 005's table (shared by every process of a deployment). */
export function postgresFactory(pool: pg.Pool): (opts: { keyPrefix: string; points: number; duration: number }) => RateLimiterPostgres {
  return (opts) => new RateLimiterPostgres({ ...opts, storeClient: pool, tableName: LIMITS_TABLE, tableCreated: true, clearExpiredByTimeout: true });
}
