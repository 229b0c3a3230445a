import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCheckpointer } from './checkpointer.js';

describe('startCheckpointer', () => {
  let dir: string;
  let file: string;
  let db: BetterSqlite3.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-checkpointer-'));
    file = join(dir, 'store.db');
    db = new BetterSqlite3(file);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0'); // this connection never checkpoints: only the worker can
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const writeRows = (n: number): void => {
    const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < n; i++) insert.run('x'.repeat(500));
    })();
  };
  const dbFileBytes = (): number => statSync(file).size;

  it('copies committed WAL pages into the database file from its own thread', async () => {
    writeRows(2000); // about 1 MB, all in the WAL
    const before = dbFileBytes();
    await sleep(150);
    expect(dbFileBytes()).toBe(before); // nobody checkpoints without it

    const checkpointer = startCheckpointer(file, { intervalMs: 20 });
    try {
      const deadline = Date.now() + 5000;
      while (dbFileBytes() <= before + 900_000 && Date.now() < deadline) await sleep(20);
      expect(dbFileBytes()).toBeGreaterThan(before + 900_000);
      // The rows are intact and the serving connection keeps writing while it runs.
      writeRows(10);
      expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2010 });
    } finally {
      await checkpointer.stop();
    }
  });

  it('stops promptly, and reports errors instead of throwing', async () => {
    const errors: string[] = [];
    const checkpointer = startCheckpointer(join(dir, 'missing', 'nowhere.db'), { intervalMs: 10, onError: (message) => errors.push(message) });
    const deadline = Date.now() + 5000;
    while (errors.length === 0 && Date.now() < deadline) await sleep(10);
    expect(errors[0]).toMatch(/unable to open|directory does not exist|SQLITE_CANTOPEN/i);
    const started = Date.now();
    await checkpointer.stop();
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
