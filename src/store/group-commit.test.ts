import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordTransactionControl } from '../../test/helpers/transaction-control.js';
import { GroupCommit, Mutex } from './group-commit.js';

describe('Mutex', () => {
  it('grants the lock at once when it is free', async () => {
    const mutex = new Mutex();
    let held = false;
    void mutex.lock().then(() => (held = true));
    await Promise.resolve();
    expect(held).toBe(true);
  });

  it('is exclusive and hands the lock over in the order it was asked for', async () => {
    const mutex = new Mutex();
    const order: number[] = [];
    let holders = 0;
    let maxHolders = 0;
    const worker = async (id: number, hold: number): Promise<void> => {
      await mutex.lock();
      holders++;
      maxHolders = Math.max(maxHolders, holders);
      order.push(id);
      await sleep(hold); // the holder yields the event loop while it holds the lock
      holders--;
      mutex.unlock();
    };
    // Different hold times: with no lock (or a LIFO one) the order or the overlap would show it.
    await Promise.all([worker(0, 8), worker(1, 1), worker(2, 5), worker(3, 0), worker(4, 3), worker(5, 1)]);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maxHolders).toBe(1);

    // Free again once the queue is drained.
    let again = false;
    void mutex.lock().then(() => (again = true));
    await Promise.resolve();
    expect(again).toBe(true);
  });

  it('keeps later callers waiting until the holder unlocks', async () => {
    const mutex = new Mutex();
    await mutex.lock();
    let second = false;
    const waiting = mutex.lock().then(() => (second = true));
    await sleep(5);
    expect(second).toBe(false);
    mutex.unlock();
    await waiting;
    expect(second).toBe(true);
  });
});


describe('GroupCommit on a SQLite file', () => {
  let dir: string;
  let sqlite: BetterSqlite3.Database;
  let observer: BetterSqlite3.Database;
  let execs: string[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-group-'));
    const file = join(dir, 'group.db');
    sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.exec(`
      CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL);
      CREATE TABLE parents (id INTEGER PRIMARY KEY);
      CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);
    `);
    execs = recordTransactionControl(sqlite); // before the GroupCommit is made: it may prepare its statements
    observer = new BetterSqlite3(file); // a second connection: sees only what is committed
  });

  afterEach(() => {
    observer.close();
    if (sqlite.open) sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const commits = (): number => execs.filter((s) => /^(COMMIT|END)\b/i.test(s)).length;
  const begins = (): number => execs.filter((s) => /^BEGIN\b/i.test(s)).length;
  const seen = (): string[] => (observer.prepare('SELECT label FROM items ORDER BY id').all() as { label: string }[]).map((r) => r.label);
  const insert = (group: GroupCommit, label: string): void => {
    group.join();
    sqlite.prepare('INSERT INTO items (label) VALUES (?)').run(label);
  };

  it('commits every write of one turn with a single COMMIT, seen by others only after durable()', async () => {
    const group = new GroupCommit(sqlite, new Mutex());
    expect(group.open).toBe(false);

    const settled: string[] = [];
    const waits: Promise<void>[] = [];
    for (const label of ['a', 'b', 'c']) {
      insert(group, label);
      waits.push(group.durable().then(() => void settled.push(label)));
    }
    await Promise.resolve(); // microtasks of the same turn still join the batch
    insert(group, 'd');
    waits.push(group.durable().then(() => void settled.push('d')));

    expect(group.open).toBe(true);
    expect(sqlite.inTransaction).toBe(true);
    expect(begins()).toBe(1); // one transaction for the four writes
    expect(commits()).toBe(0);
    expect(seen()).toEqual([]); // not committed yet: the observer does not see them

    await waits[0];
    // By the time the first waiter resumes, the one COMMIT has run and every waiter is settled.
    expect(seen()).toEqual(['a', 'b', 'c', 'd']);
    await Promise.all(waits);
    expect(settled.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(commits()).toBe(1);
    expect(group.open).toBe(false);
    expect(sqlite.inTransaction).toBe(false);
  });

  it('settles durable() at once, without a COMMIT, when nothing is pending', async () => {
    const group = new GroupCommit(sqlite, new Mutex());
    await group.durable();
    await group.flush();
    expect(execs).toEqual([]);
  });

  it('uses one COMMIT per turn: writes after a commit open a new batch', async () => {
    const group = new GroupCommit(sqlite, new Mutex());
    insert(group, 'first');
    await group.durable();
    expect(seen()).toEqual(['first']);
    insert(group, 'second');
    expect(seen()).toEqual(['first']);
    await group.durable();
    expect(seen()).toEqual(['first', 'second']);
    expect(commits()).toBe(2);
    expect(begins()).toBe(2);
  });

  it('with windowMs > 0 gathers writes for the window before committing them together', async () => {
    const windowMs = 30;
    const group = new GroupCommit(sqlite, new Mutex(), windowMs);
    const started = performance.now();
    insert(group, 'early');
    const early = group.durable();

    await sleep(10); // several turns later, still inside the window
    expect(group.open).toBe(true);
    expect(seen()).toEqual([]);
    insert(group, 'late'); // joins the same batch
    const late = group.durable();

    await early;
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(windowMs - 2); // timers may round down by a millisecond
    expect(seen()).toEqual(['early', 'late']);
    await late;
    expect(commits()).toBe(1);
  });

  it('rejects every waiter of a batch whose COMMIT fails, rolls it back, and commits the next batch', async () => {
    const group = new GroupCommit(sqlite, new Mutex());
    group.join();
    sqlite.prepare('INSERT INTO parents (id) VALUES (1)').run();
    const parentWrite = group.durable();
    insert(group, 'same batch');
    const itemWrite = group.durable();
    // Deferred: the statement succeeds, the COMMIT raises the violation.
    sqlite.prepare('INSERT INTO children (id, parent_id) VALUES (1, 999)').run();
    const childWrite = group.durable();

    const results = await Promise.allSettled([parentWrite, itemWrite, childWrite]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') expect(String(result.reason)).toMatch(/FOREIGN KEY constraint failed/);
    }
    expect(group.open).toBe(false);
    expect(sqlite.inTransaction).toBe(false); // no transaction left open
    expect(commits()).toBe(1); // one COMMIT attempted for the whole batch
    // Nothing of the failed batch reached the file, not even its valid writes.
    expect(seen()).toEqual([]);
    expect(observer.prepare('SELECT count(*) AS n FROM parents').get()).toEqual({ n: 0 });
    expect(sqlite.prepare('SELECT count(*) AS n FROM children').get()).toEqual({ n: 0 });

    insert(group, 'next batch');
    await expect(group.durable()).resolves.toBeUndefined();
    expect(seen()).toEqual(['next batch']);
  });

  it('waits for the holder of the mutex before committing', async () => {
    const mutex = new Mutex();
    const group = new GroupCommit(sqlite, mutex);
    await mutex.lock(); // someone is in the middle of their statements
    insert(group, 'x');
    const durable = group.durable();
    await sleep(10); // the scheduled commit has tried to run
    expect(commits()).toBe(0);
    expect(group.open).toBe(true);
    mutex.unlock();
    await durable;
    expect(commits()).toBe(1);
    expect(seen()).toEqual(['x']);
  });

  it('commits pending writes on close() and refuses later writes', async () => {
    const group = new GroupCommit(sqlite, new Mutex(), 60_000); // the window alone would not commit in time
    insert(group, 'pending');
    let settled = false;
    const durable = group.durable().then(() => (settled = true));
    expect(seen()).toEqual([]);

    await group.close();
    expect(seen()).toEqual(['pending']);
    await durable;
    expect(settled).toBe(true);
    expect(sqlite.inTransaction).toBe(false);

    expect(() => group.join()).toThrow(/closed/);
    expect(sqlite.inTransaction).toBe(false); // the refused join opened nothing
    await group.durable(); // nothing pending
    expect(commits()).toBe(1);
  });
});
