import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { WriteBehindCounters } from './write-behind-counters.js';

function counters(now: () => number): { counters: WriteBehindCounters; db: BetterSqlite3.Database } {
  const db = new BetterSqlite3(':memory:');
  db.exec('CREATE TABLE rate_limits (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)');
  return { counters: new WriteBehindCounters(db, { table: 'rate_limits', maxKeys: 1_000, now }), db };
}

describe('WriteBehindCounters', () => {
  it('keeps in memory only what runs: deleted keys once written back, finished windows at the next prune', async () => {
    let t = 1_000_000;
    const { counters: c, db } = counters(() => t);
    const send = c.limiter('otpg_send', 3, 60);
    const fail = c.limiter('otpg_fail', 3, 3_600);
    await send.consume('a');
    await send.consume('b');
    await fail.consume('a');
    expect(c.size).toBe(3);
    await fail.delete('a');
    expect(c.size).toBe(2); // the deletion reached the table: nothing to remember
    expect(db.prepare('SELECT count(*) AS n FROM rate_limits').get()).toEqual({ n: 2 });
    t += 61_000; // the send windows are over, and the prune is due
    await send.consume('c');
    expect(c.size).toBe(1);
    expect(await send.get('a')).toBeNull();
    expect((await send.consume('a')).consumedPoints).toBe(1); // a new window
  });

  it('counts as rate-limiter-flexible: refuses past the limit with the time left, rewards, blocks', async () => {
    let t = 5_000_000;
    const { counters: c } = counters(() => t);
    const limiter = c.limiter('otpg_check', 2, 60);
    await limiter.consume('k');
    t += 10_000;
    await limiter.consume('k');
    await expect(limiter.consume('k')).rejects.toMatchObject({ consumedPoints: 3, msBeforeNext: 50_000 });
    await limiter.reward('k', 2);
    expect((await limiter.get('k'))?.consumedPoints).toBe(1);
    await limiter.block('k', 900);
    expect(await limiter.get('k')).toMatchObject({ consumedPoints: 3, msBeforeNext: 900_000 });
  });

  describe('written behind with the store (exclusive), every flushMs', () => {
    const setup = (flushMs: number) => {
      const ran: string[] = [];
      const db = new BetterSqlite3(':memory:', { verbose: (sql) => ran.push(String(sql)) }); // every statement run
      db.exec('CREATE TABLE rate_limits (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)');
      let flushes = 0;
      const exclusive = async <T>(work: () => Promise<T>): Promise<T> => (flushes++, work());
      const make = () => new WriteBehindCounters(db, { table: 'rate_limits', maxKeys: 1_000, flushMs, exclusive });
      const changes = () => (db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
      const rows = () => db.prepare('SELECT key, points FROM rate_limits ORDER BY key').all();
      const deletes = () => ran.filter((sql) => sql.startsWith('DELETE')).length;
      return { make, changes, rows, deletes, flushes: () => flushes };
    };
    const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it('writes the changes of one interval in one flush, each key once, and a key counted and deleted in it not at all', async () => {
      const s = setup(40);
      const c = s.make();
      const check = c.limiter('otpg_check', 10, 60);
      const fail = c.limiter('otpg_fail', 5, 3_600);
      const before = s.changes();
      await check.consume('a');
      await check.consume('a');
      await check.consume('b');
      await fail.consume('a'); // a reservation…
      await fail.delete('a'); // …given back before anything was written
      await settle(10);
      expect(s.flushes()).toBe(0); // still waiting
      expect(s.rows()).toEqual([]);
      await settle(80);
      expect(s.flushes()).toBe(1);
      expect(s.rows()).toEqual([{ key: 'otpg_check:a', points: 2 }, { key: 'otpg_check:b', points: 1 }]);
      expect(s.changes() - before).toBe(2); // two rows upserted…
      expect(s.deletes()).toBe(0); // …and no DELETE of a row that never was
      // Once written, a deletion does reach the table.
      await check.delete('a');
      await settle(80);
      expect(s.rows()).toEqual([{ key: 'otpg_check:b', points: 1 }]);
      expect(s.deletes()).toBe(1);
      // A restart reads what was written: the count goes on.
      expect((await s.make().limiter('otpg_check', 10, 60).consume('b')).consumedPoints).toBe(2);
    });

    it('deletes the row of a key it never read when memory may not hold every row', async () => {
      const s = setup(0);
      const first = s.make();
      for (let i = 0; i < 600; i++) await first.limiter('otpg_send', 3, 60).consume(`k${i}`); // more running rows than maxKeys / 2
      await settle(20);
      const c = s.make(); // does not load them all: a key it has not seen may have a row
      const send = c.limiter('otpg_send', 3, 60);
      await send.block('k1', 0); // written without a read…
      await send.delete('k1'); // …and deleted in the same turn: its old row must still go
      await send.delete('k2'); // read first, then deleted
      await settle(20);
      const keys = (s.rows() as { key: string }[]).map((row) => row.key);
      expect(keys).not.toContain('otpg_send:k1');
      expect(keys).not.toContain('otpg_send:k2');
      expect(keys).toHaveLength(598);
    });

    /** Counters on a clock of the test's, every statement recorded; `selects()`: the reads of one key from the table. */
    const clocked = (maxKeys: number, now: () => number, rows: Array<[string, number, number | null]> = []) => {
      const ran: string[] = [];
      const db = new BetterSqlite3(':memory:', { verbose: (sql) => ran.push(String(sql)) });
      db.exec('CREATE TABLE rate_limits (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)');
      const insert = db.prepare('INSERT INTO rate_limits (key, points, expire) VALUES (?, ?, ?)');
      for (const row of rows) insert.run(...row);
      const exclusive = async <T>(work: () => Promise<T>): Promise<T> => work();
      const counters = new WriteBehindCounters(db, { table: 'rate_limits', maxKeys, flushMs: 0, exclusive, now });
      return { counters, selects: () => ran.filter((sql) => sql.startsWith('SELECT points')).length };
    };

    it('reads a key it does not know from the table only while a counter it forgot to make room may still run there', async () => {
      let t = 10_000_000;
      const { counters: c, selects } = clocked(100, () => t);
      const send = c.limiter('otpg_send', 3, 60);
      const check = c.limiter('otpg_check', 10, 60);
      for (let i = 0; i < 150; i++) {
        await send.consume(`k${i}`);
        if (i % 20 === 19) await settle(5); // written back as it goes: written-back counters can be forgotten
      }
      await settle(5);
      const before = selects();
      expect((await send.consume('k0')).consumedPoints).toBe(2); // forgotten, read back from the table
      await send.consume('new-1'); // unknown: it may have a row
      expect(selects()).toBe(before + 2);
      await check.consume('new-1'); // another limiter's key: none of its counters was forgotten
      expect(selects()).toBe(before + 2);
      t += 61_000; // every window only the table held has ended
      await send.consume('new-2');
      expect(selects()).toBe(before + 2); // known to have none, without a read
      expect((await send.consume('k1')).consumedPoints).toBe(1); // its window ended: a new one
    });

    it('after a start that did not load every running row, reads unknown keys until the last of their windows ends, or for good with one without end', async () => {
      for (const endless of [false, true]) {
        let t = 20_000_000;
        const rows: Array<[string, number, number | null]> = Array.from({ length: 60 }, (_, i) => [`otpg_send:old${i}`, 1, t + 30_000]);
        if (endless) rows.push(['otpg_send:blocked', 4, null]);
        const { counters: c, selects } = clocked(100, () => t, rows); // 60 running rows: more than maxKeys / 2, not loaded
        const send = c.limiter('otpg_send', 3, 60);
        expect((await send.consume('old7')).consumedPoints).toBe(2);
        await send.consume('x1');
        expect(selects()).toBe(2);
        t += 31_000;
        await send.consume('x2');
        expect(selects()).toBe(endless ? 3 : 2);
        if (endless) await expect(send.consume('blocked')).rejects.toMatchObject({ consumedPoints: 5 });
      }
    });

    it('forgetting a row loaded at start (its limiter unknown) makes every limiter read unknown keys until its window ends', async () => {
      let t = 30_000_000;
      const rows: Array<[string, number, number | null]> = Array.from({ length: 40 }, (_, i) => [`otpg_send:old${i}`, 1, t + 30_000]);
      const { counters: c, selects } = clocked(100, () => t, rows); // 40 rows: loaded
      const send = c.limiter('otpg_send', 3, 600);
      const check = c.limiter('otpg_check', 10, 600);
      for (let i = 0; i < 70; i++) {
        await send.consume(`k${i}`);
        if (i % 10 === 9) await settle(5); // 110 counters: the oldest, those loaded, are forgotten first
      }
      await settle(5);
      const before = selects();
      await check.consume('x1');
      expect(selects()).toBe(before + 1);
      t += 31_000; // the loaded rows' windows have ended
      await check.consume('x2');
      expect(selects()).toBe(before + 1);
    });
  });
});
