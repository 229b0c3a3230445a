import type BetterSqlite3 from 'better-sqlite3';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { withStatementCache } from '../store/statement-cache.js';

/** What FlexibleLimits asks of a counter (rate-limiter-flexible's limiters have these methods). */
export interface CounterLimiter {
  consume(key: string, points?: number): Promise<RateLimiterRes>;
  get(key: string): Promise<RateLimiterRes | null>;
  block(key: string, secDuration: number): Promise<RateLimiterRes>;
  delete(key: string): Promise<boolean>;
  reward(key: string, points?: number): Promise<RateLimiterRes>;
}

/** A row of the `rate_limits` table: `expire` is epoch ms, null for a window without end. */
interface Entry {
  points: number;
  expire: number | null;
  /** No running window: deleted, or never counted (kept so the next look needs no SELECT). */
  absent?: boolean;
  /** The table may hold a row for the key (read from it, or written to it); false: it holds none. */
  stored?: boolean;
  /** The key prefix of the limiter it counts for (unknown for the rows loaded at start). */
  prefix?: string;
}

/** Known to have no row, in memory or in the table. */
const ABSENT: Readonly<Entry> = Object.freeze({ points: 0, expire: null, absent: true, stored: false });
/** Deleted in memory while the table may still hold a row: the next flush deletes it. */
const DELETED: Readonly<Entry> = Object.freeze({ points: 0, expire: null, absent: true, stored: true });
/** Rows per flushing statement. */
const CHUNK = 100;
/** Expired rows are deleted from the table this often, an hour after they expired (as rate-limiter-flexible does). */
const CLEAR_EVERY_MS = 5 * 60_000;
const CLEAR_AFTER_MS = 3_600_000;
/** Finished windows are dropped from memory this often. */
const PRUNE_EVERY_MS = 10_000;

export interface WriteBehindOptions {
  /** The table's name (migration 005 creates `rate_limits`). */
  table: string;
  /**
   * Runs a flush: on the embedded store, holding its connection inside its group transaction
   * (`exclusive`), so the counts are committed with the requests of the same turn. Without it,
   * every change is written at once (a bare handle: tests, tools).
   */
  exclusive?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Counters kept in memory; beyond it, flushed ones are forgotten (read again when needed). */
  maxKeys: number;
  /**
   * How long changes wait in memory before they are written (with `exclusive`; 0: the next turn of
   * the event loop). Changes to one key within it are written once, and a key counted and deleted
   * within it (a check's failure reservation, given back when the code was right) is not written at
   * all; a crash loses at most this long of counts.
   */
  flushMs?: number;
  now?: () => number;
}

/**
 * The embedded store's counters: rate-limiter-flexible's fixed windows (a window starts at its
 * first count; `block` sets the count past the limit until the block ends) kept in this process's
 * memory and written behind to the same `rate_limits` rows RateLimiterSQLite used, so a restart
 * keeps counts and lockouts.
 *
 * Why not RateLimiterSQLite, as before: it ran an upsert (or a SELECT) per count, inside its own
 * promise chains, under the store's connection lock: about a tenth of a send's and of a check's
 * CPU. Here a count is a Map update; the changed rows of a whole turn go to the table in one
 * multi-row upsert joined to the group commit (a crash loses at most the counts of that turn, as
 * before, when they were not waited for either). A key not in memory is read from the table once.
 * The embedded store has one process, so memory is the truth and the table its copy.
 */
export class WriteBehindCounters {
  readonly #entries = new Map<string, Entry>();
  /** Keys changed since the last flush (their entry holds the new value; a deleted key is ABSENT). */
  readonly #dirty = new Set<string>();
  /** Statements prepared once by SQL text (the store's handle already does; a bare one does not). */
  readonly #db: BetterSqlite3.Database;
  readonly #now: () => number;
  #flushScheduled = false;
  #lastClear: number;
  #lastPrune: number;
  /**
   * Memory holds every row of the table that is still running: a key it does not know has no row,
   * and needs no SELECT. True from the start when the running rows fit in half of `maxKeys` (they
   * are loaded then), and true again once the last of the windows it did not load has ended
   * (`#incompleteUntil`). A running counter forgotten to make room makes its limiter's keys
   * unknown in the same way, until its window ends (`#forgottenUntil`): until then a key of that
   * limiter it does not know is read from the table, and the other limiters' keys are not. Only with
   * `exclusive` (one owner of the table: the embedded store's process).
   */
  #complete = false;
  /** While not complete: when the last window that only the table may hold ends (epoch ms; Infinity: never, or not known). */
  #incompleteUntil = Infinity;
  /** Per limiter (key prefix): when the last window of a counter forgotten to make room ends. */
  readonly #forgottenUntil = new Map<string, number>();

  constructor(
    db: BetterSqlite3.Database,
    private readonly options: WriteBehindOptions,
  ) {
    this.#db = withStatementCache(db);
    this.#now = options.now ?? Date.now;
    this.#lastClear = this.#now();
    this.#lastPrune = this.#lastClear;
    if (options.exclusive) this.#loadRunning();
  }

  #loadRunning(): void {
    const now = this.#now();
    const where = `FROM ${this.options.table} WHERE expire IS NULL OR expire > ?`;
    const { n, until, endless } = this.#statement(`SELECT count(*) AS n, max(expire) AS until, count(*) - count(expire) AS endless ${where}`).get(now) as {
      n: number;
      until: number | bigint | null;
      endless: number;
    };
    if (n > this.options.maxKeys / 2) {
      // Not loaded: complete once the last of those windows has ended.
      this.#incompleteUntil = endless > 0 || until === null ? Infinity : Number(until);
      return;
    }
    const rows = this.#statement(`SELECT key, points, expire ${where}`).all(now) as { key: string; points: number; expire: number | bigint | null }[];
    for (const row of rows) this.#entries.set(row.key, { points: row.points, expire: row.expire === null ? null : Number(row.expire), stored: true });
    this.#complete = true;
  }

  /** A limiter of `points` per `durationS` (0: no end) over keys prefixed `keyPrefix:`. */
  limiter(keyPrefix: string, points: number, durationS: number): CounterLimiter {
    const key = (k: string): string => `${keyPrefix}:${k}`;
    const result = (entry: Entry, now: number): RateLimiterRes =>
      new RateLimiterRes(Math.max(points - entry.points, 0), entry.expire === null ? -1 : Math.max(entry.expire - now, 0), entry.points);
    return {
      consume: (k, n = 1) => {
        const now = this.#now();
        const entry = this.#add(key(k), keyPrefix, n, durationS * 1000, now);
        const res = result(entry, now);
        return entry.points > points ? Promise.reject(res) : Promise.resolve(res);
      },
      reward: (k, n = 1) => {
        const now = this.#now();
        return Promise.resolve(result(this.#add(key(k), keyPrefix, -n, durationS * 1000, now), now));
      },
      get: (k) => {
        const now = this.#now();
        const entry = this.#live(key(k), keyPrefix, now);
        return Promise.resolve(entry ? result(entry, now) : null);
      },
      block: (k, secDuration) => {
        const ms = secDuration * 1000;
        this.#set(key(k), keyPrefix, { points: points + 1, expire: ms > 0 ? this.#now() + ms : null });
        return Promise.resolve(new RateLimiterRes(0, ms > 0 ? ms : -1, points + 1));
      },
      delete: (k) => {
        const rlKey = key(k);
        const existed = this.#live(rlKey, keyPrefix, this.#now()) !== undefined;
        this.#set(rlKey, keyPrefix, ABSENT);
        return Promise.resolve(existed);
      },
    };
  }

  /** Writes every pending change now (tests; shutdown goes through the store's own flush). */
  flushNow(): void {
    this.#flush();
  }

  /** Counters kept in memory (tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry of a window still running, or undefined. */
  #live(rlKey: string, prefix: string, now: number): Entry | undefined {
    const entry = this.#read(rlKey, prefix);
    if (entry.absent || (entry.expire !== null && entry.expire <= now)) return undefined;
    return entry;
  }

  /** The upsert of RateLimiterSQLite: adds to a running window, or starts one with `n`. */
  #add(rlKey: string, prefix: string, n: number, msDuration: number, now: number): Entry {
    const running = this.#live(rlKey, prefix, now);
    const entry = running ? { points: running.points + n, expire: running.expire } : { points: n, expire: msDuration > 0 ? now + msDuration : null };
    this.#set(rlKey, prefix, entry);
    return entry;
  }

  #read(rlKey: string, prefix: string): Entry {
    const cached = this.#entries.get(rlKey);
    if (cached) return cached;
    if (this.#knowsAll(prefix)) return ABSENT;
    const row = this.#statement(`SELECT points, expire FROM ${this.options.table} WHERE key = ?`).get(rlKey) as
      | { points: number; expire: number | bigint | null }
      | undefined;
    const entry = row ? { points: row.points, expire: row.expire === null ? null : Number(row.expire), stored: true, prefix } : ABSENT;
    this.#remember(rlKey, entry);
    return entry;
  }

  /** `entry` becomes the key's value (a fresh object from the caller, or ABSENT), to be written by the next flush. */
  #set(rlKey: string, prefix: string, entry: Entry): void {
    const before = this.#entries.get(rlKey);
    // Not in memory: the table holds no row only when memory is known to hold every row of its limiter.
    const stored = before ? before.stored === true : !this.#knowsAll(prefix);
    if (entry.absent) entry = stored ? DELETED : ABSENT;
    else {
      entry.stored = stored;
      entry.prefix = prefix;
    }
    this.#remember(rlKey, entry);
    this.#dirty.add(rlKey);
    if (!this.options.exclusive) {
      this.#flush();
      return;
    }
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const flush = (): void => {
      this.#flushScheduled = false;
      // A failed flush keeps its keys dirty: the next change schedules another try.
      this.options.exclusive!(async () => this.#flush()).catch(() => undefined);
    };
    const wait = this.options.flushMs ?? 0;
    if (wait > 0) setTimeout(flush, wait).unref();
    else setImmediate(flush);
  }

  #remember(rlKey: string, entry: Entry): void {
    const entries = this.#entries;
    if (!entries.has(rlKey) && entries.size >= this.options.maxKeys) this.#evict();
    entries.set(rlKey, entry);
  }

  /** Forgets expired and then the oldest written-back entries (a quarter of the map), never unflushed ones. */
  #evict(): void {
    const now = this.#now();
    const entries = this.#entries;
    for (const [rlKey, entry] of entries) {
      if (!this.#dirty.has(rlKey) && (entry.absent || (entry.expire !== null && entry.expire <= now))) entries.delete(rlKey);
    }
    let excess = entries.size - Math.floor(this.options.maxKeys * 0.75);
    for (const [rlKey, entry] of entries) {
      if (excess <= 0) break;
      if (this.#dirty.has(rlKey)) continue;
      entries.delete(rlKey);
      // A running counter now lives only in the table, until its window ends.
      const ends = entry.expire ?? Infinity;
      if (entry.prefix === undefined) {
        this.#incompleteUntil = this.#complete ? ends : Math.max(this.#incompleteUntil, ends);
        this.#complete = false;
      } else {
        this.#forgottenUntil.set(entry.prefix, Math.max(this.#forgottenUntil.get(entry.prefix) ?? -Infinity, ends));
      }
      excess -= 1;
    }
  }

  #flush(): void {
    const upserts: unknown[] = [];
    const written: Entry[] = [];
    const deletes: string[] = [];
    const forget: string[] = [];
    for (const rlKey of this.#dirty) {
      const entry = this.#entries.get(rlKey) ?? ABSENT;
      if (entry.absent) {
        forget.push(rlKey);
        if (entry.stored) deletes.push(rlKey); // a key that never reached the table needs no DELETE
      } else {
        upserts.push(rlKey, entry.points, entry.expire);
        written.push(entry);
      }
    }
    const table = this.options.table;
    for (const entry of written) entry.stored = true; // before the write: one that fails part-way may have stored some
    for (let i = 0; i < upserts.length; i += CHUNK * 3) {
      const rows = upserts.slice(i, i + CHUNK * 3);
      const values = Array.from({ length: rows.length / 3 }, () => '(?, ?, ?)').join(', ');
      this.#statement(`INSERT INTO ${table} (key, points, expire) VALUES ${values} ON CONFLICT(key) DO UPDATE SET points = excluded.points, expire = excluded.expire`).run(rows);
    }
    for (let i = 0; i < deletes.length; i += CHUNK) {
      const keys = deletes.slice(i, i + CHUNK);
      this.#statement(`DELETE FROM ${table} WHERE key IN (${keys.map(() => '?').join(', ')})`).run(keys);
    }
    // Written back: a deleted key need not be remembered (the table has no row, nor has memory).
    for (const rlKey of forget) this.#entries.delete(rlKey);
    this.#dirty.clear();
    const now = this.#now();
    if (now - this.#lastPrune >= PRUNE_EVERY_MS) {
      // Finished windows leave memory too (they would only be read as absent), so it holds what runs.
      this.#lastPrune = now;
      for (const [rlKey, entry] of this.#entries) if (entry.expire !== null && entry.expire <= now) this.#entries.delete(rlKey);
    }
    if (now - this.#lastClear >= CLEAR_EVERY_MS) {
      this.#lastClear = now;
      this.#statement(`DELETE FROM ${table} WHERE expire < ?`).run(now - CLEAR_AFTER_MS);
    }
  }

  /**
   * Whether memory holds every running row of the limiter `prefix` (see #complete): a key of it that
   * memory does not know then has no row. True again once the windows only the table held have ended.
   */
  #knowsAll(prefix: string): boolean {
    if (!this.options.exclusive) return false;
    if (!this.#complete) {
      if (this.#now() < this.#incompleteUntil) return false;
      this.#complete = true;
    }
    const until = this.#forgottenUntil.get(prefix);
    if (until === undefined) return true;
    if (this.#now() < until) return false;
    this.#forgottenUntil.delete(prefix);
    return true;
  }

  #statement(sql: string): BetterSqlite3.Statement {
    return this.#db.prepare(sql);
  }
}
