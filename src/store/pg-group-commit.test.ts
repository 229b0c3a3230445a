import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { NEEDS_POSTGRES, POSTGRES_URL, useRecordingDatabase } from '../../test/helpers/stores.js';
import { PgGroupCommit } from './pg-group-commit.js';
import type { PipelinedTransaction } from './pg-pipeline.js';

const LOCK = 'select pg_advisory_xact_lock(hashtextextended($1, 0))';

describe.skipIf(!POSTGRES_URL)(`PgGroupCommit on Postgres${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  const db = useRecordingDatabase(6, async (pool) => {
    await pool.query('create table rows (id text primary key, txid bigint not null)');
    await pool.query('create table counters (key text primary key, n bigint not null)');
  });
  beforeEach(async () => {
    await db.pool.query('truncate rows, counters');
    db.trips.length = 0;
  });

  /** Inserts a row named `id` with the transaction's id; resolves with that transaction id. */
  const insertRow = (id: string) => async (trx: PipelinedTransaction) => {
    const { rows } = await trx.run<{ txid: string }>('select txid_current()::text as txid', []);
    await trx.run('insert into rows (id, txid) values ($1, $2)', [id, rows[0]!.txid], { deferred: true });
    return rows[0]!.txid;
  };
  const committedIds = async (): Promise<string[]> => (await db.pool.query<{ id: string }>('select id from rows order by id')).rows.map((row) => row.id);
  const commits = (): number => db.trips.filter((trip) => /(^|;\n)COMMIT$/.test(trip)).length;

  it('transactions asked for in the same turn share one transaction, one round trip per step and one COMMIT', async () => {
    const group = new PgGroupCommit(db.kysely, db.pool, { maxMembers: 64 });
    const ids = Array.from({ length: 10 }, (_, i) => `r${i}`);
    const txids = await Promise.all(ids.map((id) => group.run(insertRow(id))));
    expect(new Set(txids).size).toBe(1);
    expect(db.trips, db.trips.join('\n')).toHaveLength(2); // BEGIN with every read, then every insert with the COMMIT
    expect(commits()).toBe(1);
    expect(await committedIds()).toEqual(ids);
    expect(group.stats).toMatchObject({ groups: 1, members: 10, retriedAlone: 0 });
  });

  it('holds at most maxMembers: the rest go in the next group', async () => {
    const group = new PgGroupCommit(db.kysely, db.pool, { maxMembers: 4 });
    const txids = await Promise.all(Array.from({ length: 10 }, (_, i) => group.run(insertRow(`r${i}`))));
    expect(new Set(txids).size).toBe(3); // 4 + 4 + 2
    expect((await committedIds()).length).toBe(10);
    expect(commits()).toBe(3);
  });

  it("one member's own failure fails only that member: it rejects with its error, the others commit, nothing it wrote stays", async () => {
    const group = new PgGroupCommit(db.kysely, db.pool, { maxMembers: 64 });
    class Refused extends Error {}
    const outcomes = await Promise.allSettled([
      group.run(insertRow('a')),
      group.run(async (trx) => {
        await insertRow('refused')(trx);
        throw new Refused('no balance');
      }),
      group.run(insertRow('b')),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(Refused);
    expect(await committedIds()).toEqual(['a', 'b']);
    expect(group.stats.retriedAlone).toBe(1);
  });

  it("runs a member's after-commit work once, after the COMMIT that kept its writes: never for the group rolled back, nor for the member that failed", async () => {
    await db.pool.query(`insert into rows (id, txid) values ('taken', 0)`);
    const group = new PgGroupCommit(db.kysely, db.pool, { maxMembers: 64 });
    const ran: string[] = [];
    const member = (id: string) => async (trx: PipelinedTransaction) => {
      const txid = await insertRow(id)(trx);
      trx.afterCommit(() => ran.push(`${id} in ${txid}`));
      return txid;
    };
    const outcomes = await Promise.allSettled([group.run(member('a')), group.run(member('taken')), group.run(member('b'))]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // Each ran twice (the group, then alone); only the alone runs that committed left work behind.
    const txids = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : null));
    expect(ran.sort()).toEqual([`a in ${txids[0]}`, `b in ${txids[2]}`]);
    expect(group.stats.retriedAlone).toBe(1);
  });

  it('a statement that fails (a duplicate key) fails its own member only, after the group is rolled back and run again alone', async () => {
    await db.pool.query(`insert into rows (id, txid) values ('taken', 0)`);
    const group = new PgGroupCommit(db.kysely, db.pool, { maxMembers: 64 });
    const outcomes = await Promise.allSettled([group.run(insertRow('a')), group.run(insertRow('taken')), group.run(insertRow('b'))]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((outcomes[1] as PromiseRejectedResult).reason as { code?: string }).code).toBe('23505');
    expect(await committedIds()).toEqual(['a', 'b', 'taken']);
    // a and b each committed alone in the retry, in transactions of their own
    const { rows } = await db.pool.query<{ txid: string }>(`select txid::text from rows where id in ('a', 'b')`);
    expect(new Set(rows.map((row) => row.txid)).size).toBe(2);
  });

  it('two transactions that take the same advisory lock never share a group (the lock would be re-entrant there)', async () => {
    const group = new PgGroupCommit(db.kysely, db.pool, { maxMembers: 64 });
    const locked = (id: string) => async (trx: PipelinedTransaction) => {
      await trx.run(LOCK, ['same'], { deferred: true });
      return insertRow(id)(trx);
    };
    const txids = await Promise.all([group.run(locked('a'), 'same'), group.run(insertRow('free')), group.run(locked('b'), 'same')]);
    expect(txids[0]).not.toBe(txids[2]);
    expect(txids[0]).toBe(txids[1]); // the unlocked one joined the first group
  });

  it('groups of two processes taking overlapping locks in any order queue on them without deadlocking, and every increment under a lock counts', async () => {
    // Two pools stand for two processes; every work takes its key's lock, reads the counter and writes it + 1.
    const second = new pg.Pool({ connectionString: db.pool.options.connectionString, max: 6 });
    second.on('error', () => {});
    try {
      const groups = [new PgGroupCommit(db.kysely, db.pool, { maxMembers: 64 }), new PgGroupCommit(db.kysely, second, { maxMembers: 64 })];
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      const increment = (key: string) => async (trx: PipelinedTransaction) => {
        await trx.run(LOCK, [key], { deferred: true });
        const { rows } = await trx.run<{ n: string }>('select n::text from counters where key = $1', [key]);
        const n = rows.length === 0 ? 0 : Number(rows[0]!.n);
        await trx.run('insert into counters (key, n) values ($1, $2) on conflict (key) do update set n = excluded.n', [key, n + 1], { deferred: true });
      };
      const rounds = 6;
      const work: Array<Promise<unknown>> = [];
      for (let round = 0; round < rounds; round++) {
        // Each process asks for every key, in opposite orders.
        for (const key of keys) work.push(groups[0]!.run(increment(key), key));
        for (const key of [...keys].reverse()) work.push(groups[1]!.run(increment(key), key));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(work);
      const { rows } = await db.pool.query<{ key: string; n: string }>('select key, n::text from counters order by key');
      expect(rows.map((row) => [row.key, Number(row.n)])).toEqual(keys.map((key) => [key, rounds * 2]));
      // Locks taken in the order of their keys: no group ran into a deadlock and had to run alone.
      expect(groups.map((group) => group.stats.retriedAlone)).toEqual([0, 0]);
      expect(groups[0]!.stats.groups).toBeGreaterThan(0);
    } finally {
      await second.end();
    }
  });
});
