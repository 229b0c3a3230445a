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
});
