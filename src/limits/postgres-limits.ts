import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { PipelinedTransaction, pipelinedBatch } from '../store/pg-pipeline.js';
import { prepared, slot, type QueryRunner } from '../store/prepared.js';
import { counterKey, FlexibleLimits, postgresFactory, type Admission, type FailureRule, type Reservation } from './limits.js';

/*
 * The rows rate-limiter-flexible's RateLimiterPostgres keeps in `rate_limits` (key `otpg_<name>:<key>`,
 * `points` the count, `expire` the end of its window in epoch ms), written by single statements: the
 * library's methods read and write the same rows. A count starts its window at its first point and a
 * row past its `expire` counts afresh, as the library's upsert does. The steps are those of
 * redis-limits.ts's scripts; each is one statement (data-modifying CTEs: every part sees the rows as
 * they were when it started and they touch different rows, so the parts never race each other).
 */

/** One more point on `$key`'s counter (window `$window` ms from `$now`), unless `$skip`; returns points and expire. */
const count = (key: string, window: string, condition: string): string => `
  insert into rate_limits (key, points, expire)
  select ${key}::text, 1, $1::bigint + ${window} where ${condition}
  on conflict (key) do update set
    points = case when rate_limits.expire <= $1::bigint then 1 else rate_limits.points + 1 end,
    expire = case when rate_limits.expire <= $1::bigint then excluded.expire else rate_limits.expire end
  returning points, expire`;

/** A running lockout (`lockStatus`: more than one point, not expired). $1 now, $2 lock key. */
const LOCK = `select expire from rate_limits where key = $2::text and points > 1 and expire > $1::bigint`;

/** $1 now, $2 lock key, $3 counter key, $4 its window (ms). Returns the lock's end, or the count and its end. */
const ADMIT = `
with lock as (${LOCK}),
counted as (${count('$3', '$4::bigint', 'not exists (select 1 from lock)')})
select (select expire from lock) as locked_until, (select points from counted) as points, (select expire from counted) as expire`;

/**
 * A failure reservation of key `$k` (max `$max`, window `$w` ms) when `admitted`: refused without a
 * count when the budget is spent, else counted (refused when the count passes the budget).
 */
const reserve = (k: string, max: string, w: string, admitted: string): string => `
spent as (select 1 from rate_limits where key = ${k}::text and expire > $1::bigint and points >= ${max}),
reserved as (${count(k, w, `${admitted} and not exists (select 1 from spent)`)})`;

/** $1 now, $2 failures key, $3 max failures, $4 their window (ms). */
const RESERVE = `
with ${reserve('$2', '$3::int', '$4::bigint', 'true')}
select (select points from reserved) as failures`;

/** $1 now, $2 lock, $3 check counter, $4 its window, $5 check limit, $6 failures key, $7 max failures, $8 their window. */
const ADMIT_CHECK = `
with lock as (${LOCK}),
counted as (${count('$3', '$4::bigint', 'not exists (select 1 from lock)')}),
${reserve('$6', '$7::int', '$8::bigint', 'coalesce((select points from counted) <= $5::int, false)')}
select (select expire from lock) as locked_until, (select points from counted) as points, (select expire from counted) as expire,
  (select points from reserved) as failures`;

/** $1 now, $2 failures key: a give-back, while failures are counted (after the approving check's reset, none). */
const GIVE_BACK = `update rate_limits set points = points - 1 where key = $2::text and points > 0 and (expire > $1::bigint or expire is null)`;

/** The failures' reset (rate-limiter-flexible's delete of the key), deferrable into a transaction. */
const resetQuery = prepared<{ key: string }>((db) => ({ compile: () => sql<never>`delete from rate_limits where key = ${slot<string>('key')}`.compile(db) }), { deferrable: true });

interface AdmitRow {
  locked_until: string | null;
  points: number | null;
  expire: string | null;
}

/**
 * Limits on Postgres alone (no Redis): the hot path's combined steps (`admit`, `admitCheck`,
 * `reserveFailure`, `settleReservation`) are one statement each, one round trip, where the library
 * took two to four (a send: lock status, then the count; a check: lock status, count, budget read,
 * reservation). The other methods are the library's, on the same rows.
 */
export class PostgresLimits extends FlexibleLimits {
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    /** The store's Kysely instance (prepared queries compile with it); the clock, for tests. */
    private readonly options: { kysely: Kysely<never>; now?: () => number },
  ) {
    super(postgresFactory(pool));
    this.now = options.now ?? Date.now;
  }

  override async admit(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission> {
    const now = this.now();
    const { rows } = await this.pool.query<AdmitRow>(ADMIT, [now, counterKey('lock', key), counterKey(name, key), durationS * 1000]);
    return admission(rows[0], this.now(), points);
  }

  override async admitCheck(key: string, points: number, durationS: number, rule: FailureRule): Promise<{ admission: Admission; reservation: Reservation | null }> {
    const now = this.now();
    const { rows } = await this.pool.query<AdmitRow & { failures: number | null }>(ADMIT_CHECK, this.#admitCheckParameters(now, key, points, durationS, rule));
    return this.#admittedCheck(rows[0], this.now(), points, rule);
  }

  #admitCheckParameters(now: number, key: string, points: number, durationS: number, rule: FailureRule): unknown[] {
    return [now, counterKey('lock', key), counterKey('check', key), durationS * 1000, points, counterKey('fail', key), rule.maxFailures, rule.windowS * 1000];
  }

  #admittedCheck(row: (AdmitRow & { failures: number | null }) | undefined, now: number, points: number, rule: FailureRule): { admission: Admission; reservation: Reservation | null } {
    const admitted = admission(row, now, points);
    if (!admitted.ok) return { admission: admitted, reservation: null };
    return { admission: admitted, reservation: reservation(row?.failures ?? null, rule) };
  }

  /** `admit` inside the caller's pipelined transaction, sent with its other statements of that round trip (elsewhere: on its own). */
  async admitIn(trx: QueryRunner, name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission> {
    if (!(trx instanceof PipelinedTransaction)) return this.admit(name, key, points, durationS);
    const now = this.now();
    const { rows } = await trx.run<AdmitRow>(ADMIT, [now, counterKey('lock', key), counterKey(name, key), durationS * 1000]);
    return admission(rows[0], this.now(), points);
  }

  /** admitCheck and `read` as one multi-statement query: one round trip (pipelinedBatch). */
  async admitCheckAlong<T>(read: (runner: QueryRunner) => Promise<T>, key: string, points: number, durationS: number, rule: FailureRule): Promise<{ admission: Admission; reservation: Reservation | null; read: T }> {
    const now = this.now();
    return pipelinedBatch(this.options.kysely, this.pool, async (batch) => {
      const [answer, value] = await Promise.all([batch.run<AdmitRow & { failures: number | null }>(ADMIT_CHECK, this.#admitCheckParameters(now, key, points, durationS, rule)), read(batch)]);
      return { ...this.#admittedCheck(answer.rows[0], this.now(), points, rule), read: value };
    });
  }

  /** The failures' reset, sent with the approval's other statements (deferred in a pipelined transaction). */
  async resetFailuresIn(trx: QueryRunner, key: string): Promise<void> {
    await resetQuery(trx, { key: counterKey('fail', key) });
  }

  override async reserveFailure(key: string, rule: FailureRule): Promise<Reservation> {
    const { rows } = await this.pool.query<{ failures: number | null }>(RESERVE, [this.now(), counterKey('fail', key), rule.maxFailures, rule.windowS * 1000]);
    return reservation(rows[0]?.failures ?? null, rule);
  }

  override async settleReservation(key: string, rule: FailureRule, approved: boolean): Promise<void> {
    if (approved) return this.resetFailures(key);
    await this.pool.query(GIVE_BACK, [this.now(), counterKey('fail', key)]);
  }
}

/**
 * The admission an answer says. `now` is read after the answer: a lock set by another request while
 * the statement was on its way ends at most its duration after now (so `lock_duration` never exceeds it).
 */
function admission(row: AdmitRow | undefined, now: number, limit: number): Admission {
  if (row?.locked_until != null) return { ok: false, locked: true, msLeft: Math.max(1, Number(row.locked_until) - now) };
  if (row?.points == null) throw new Error('the limit statement counted nothing');
  if (row.points > limit) return { ok: false, locked: false, msBeforeNext: Math.max(0, Number(row.expire) - now) };
  return { ok: true };
}

/** null: refused without a count (the budget was spent); over the budget: refused (counted). */
function reservation(failures: number | null, rule: FailureRule): Reservation {
  if (failures === null || failures > rule.maxFailures) return { ok: false };
  return { ok: true, last: failures >= rule.maxFailures };
}
