import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql, type Generated } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordTransactionControl } from '../../test/helpers/transaction-control.js';
import { migrateToLatest, openStore } from './database.js';
import { migrations } from './migrations/index.js';
import { prepared, slot } from './prepared.js';
import { groupCommitDialect, type GroupCommitDriver } from './sqlite-driver.js';

interface TestTables {
  items: { id: Generated<number>; label: string; v: Generated<number> };
  parents: { id: number };
  children: { id: number; parent_id: number };
}


describe('GroupCommitDriver (Kysely on group commit)', () => {
  let dir: string;
  let file: string;
  let sqlite: BetterSqlite3.Database;
  let observer: BetterSqlite3.Database;
  let control: string[];
  let driver: GroupCommitDriver;
  let db: Kysely<TestTables>;
  let destroyed: boolean;

  async function open(windowMs = 0): Promise<void> {
    sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    control = recordTransactionControl(sqlite); // before the driver is made: it may prepare its statements
    const made = groupCommitDialect(sqlite, windowMs);
    driver = made.driver;
    db = new Kysely<TestTables>({ dialect: made.dialect });
    destroyed = false;
  }

  async function destroy(): Promise<void> {
    if (destroyed) return;
    destroyed = true;
    await db.destroy();
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-driver-'));
    file = join(dir, 'driver.db');
    await open();
    await db.schema
      .createTable('items')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('label', 'text', (c) => c.notNull().unique())
      .addColumn('v', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createTable('parents').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
    // Deferred: an orphan child is accepted by its INSERT and refused by the COMMIT.
    await sql`CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)`.execute(db);
    observer = new BetterSqlite3(file); // a second connection: sees only what is committed
    control.length = 0;
  });

  afterEach(async () => {
    try {
      await destroy();
    } finally {
      observer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const commits = (): number => control.filter((s) => /^(COMMIT|END)\b/i.test(s)).length;
  const savepoints = (): number => control.filter((s) => /^SAVEPOINT\b/i.test(s)).length;
  /** The labels the observer sees, in id order. */
  const seen = (): string[] => (observer.prepare('SELECT label FROM items ORDER BY id').all() as { label: string }[]).map((r) => r.label);
  const seenLabel = (label: string): boolean => observer.prepare('SELECT 1 FROM items WHERE label = ?').get(label) !== undefined;

  it('commits concurrent transactions in shared COMMITs; each resolves only once its rows are visible to others', async () => {
    const count = 20;
    const visibleOnResolve: boolean[] = [];
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        db
          .transaction()
          .execute(async (trx) => {
            await trx.insertInto('items').values({ label: `t${i}a`, v: i }).execute();
            await trx.insertInto('items').values({ label: `t${i}b`, v: i }).execute();
            return i;
          })
          .then((i) => {
            visibleOnResolve[i] = seenLabel(`t${i}a`) && seenLabel(`t${i}b`);
            return i;
          }),
      ),
    );
    expect(results).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(visibleOnResolve).toEqual(Array.from({ length: count }, () => true));
    expect(savepoints()).toBe(count); // each transaction is a savepoint of the group
    expect(commits()).toBeGreaterThanOrEqual(1);
    expect(commits()).toBeLessThan(count);
    expect(seen()).toHaveLength(2 * count);
    expect(sqlite.inTransaction).toBe(false);
  });

  it('rolls back a failing transaction alone while the rest of its batch commits', async () => {
    const outcomes = await Promise.allSettled(
      [0, 1, 2, 3, 4].map((i) =>
        db.transaction().execute(async (trx) => {
          await trx.insertInto('items').values({ label: `tx${i}-first` }).execute();
          if (i === 1) throw new Error('boom in tx1');
          // tx3 fails on a statement: its UNIQUE violation undoes only tx3.
          await trx.insertInto('items').values({ label: i === 3 ? 'tx0-first' : `tx${i}-second` }).execute();
          return i;
        }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    const reasons = outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : null));
    expect(reasons[1]).toBe('Error: boom in tx1'); // the caller's own error, unchanged
    expect(reasons[3]).toMatch(/UNIQUE constraint failed/);
    expect(commits()).toBe(1); // one batch
    expect(seen()).toEqual(['tx0-first', 'tx0-second', 'tx2-first', 'tx2-second', 'tx4-first', 'tx4-second']);
    expect(sqlite.inTransaction).toBe(false);
  });

  it('answers a standalone write only once others can see it, while reads see it at once', async () => {
    let visibleOnResolve: boolean | undefined;
    const write = db
      .insertInto('items')
      .values({ label: 'solo', v: 1 })
      .execute()
      .then((r) => {
        visibleOnResolve = seenLabel('solo');
        return r;
      });
    // The read is queued after the write: it sees the write, uncommitted, and does not wait for the COMMIT.
    const own = await db.selectFrom('items').select(['label', 'v']).execute();
    expect(own).toEqual([{ label: 'solo', v: 1 }]);
    expect(driver.group.open).toBe(true);
    expect(commits()).toBe(0);
    expect(seen()).toEqual([]);
    expect(visibleOnResolve).toBeUndefined();
    await write;
    expect(visibleOnResolve).toBe(true);

    let updatedOnResolve: number | undefined;
    const update = db
      .updateTable('items')
      .set({ v: 2 })
      .where('label', '=', 'solo')
      .execute()
      .then((r) => {
        updatedOnResolve = (observer.prepare('SELECT v FROM items WHERE label = ?').get('solo') as { v: number }).v;
        return r;
      });
    expect(await db.selectFrom('items').select('v').executeTakeFirstOrThrow()).toEqual({ v: 2 });
    expect(observer.prepare('SELECT v FROM items').get()).toEqual({ v: 1 }); // not committed yet
    await update;
    expect(updatedOnResolve).toBe(2);
    expect(commits()).toBe(2);
  });

  it('rejects a failing standalone write with its error and keeps the connection usable', async () => {
    await db.insertInto('items').values({ label: 'dup' }).execute();
    await expect(db.insertInto('items').values({ label: 'dup' }).execute()).rejects.toThrow(/UNIQUE constraint failed/);
    // Had the failure kept the connection, this would never run.
    await db.insertInto('items').values({ label: 'next' }).execute();
    expect(seen()).toEqual(['dup', 'next']);
  });

  it('reports affected rows, insert ids and RETURNING rows', async () => {
    const inserted = await db.insertInto('items').values({ label: 'a', v: 1 }).executeTakeFirstOrThrow();
    const a = observer.prepare('SELECT id FROM items WHERE label = ?').get('a') as { id: number };
    expect(inserted.insertId).toBe(BigInt(a.id));
    const { id: bId } = await db.insertInto('items').values({ label: 'b', v: 2 }).returning('id').executeTakeFirstOrThrow();
    expect(bId).toBe(a.id + 1);
    await db.insertInto('items').values([{ label: 'c', v: 3 }, { label: 'd', v: 4 }]).execute();

    const updated = await db.updateTable('items').set({ v: sql<number>`v * 10` }).where('v', '>=', 3).executeTakeFirstOrThrow();
    expect(updated.numUpdatedRows).toBe(2n);
    const none = await db.updateTable('items').set({ v: 0 }).where('label', '=', 'missing').executeTakeFirstOrThrow();
    expect(none.numUpdatedRows).toBe(0n);

    const returned = await db
      .updateTable('items')
      .set({ v: sql<number>`v + 100` })
      .where('v', '<=', 2)
      .returning(['label', 'v'])
      .execute();
    expect(returned.sort((x, y) => x.label.localeCompare(y.label))).toEqual([
      { label: 'a', v: 101 },
      { label: 'b', v: 102 },
    ]);
    // A write with RETURNING also waits for its COMMIT.
    expect(observer.prepare('SELECT label, v FROM items ORDER BY id').all()).toEqual([
      { label: 'a', v: 101 },
      { label: 'b', v: 102 },
      { label: 'c', v: 30 },
      { label: 'd', v: 40 },
    ]);

    const inTx = await db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('items').where('v', '>', 100).executeTakeFirstOrThrow();
      return r.numDeletedRows;
    });
    expect(inTx).toBe(2n);
    expect(seen()).toEqual(['c', 'd']);
  });

  it('rejects every writer of a batch whose COMMIT fails, and keeps working afterwards', async () => {
    const orphan = db.transaction().execute(async (trx) => {
      await trx.insertInto('parents').values({ id: 1 }).execute();
      await trx.insertInto('children').values({ id: 1, parent_id: 999 }).execute(); // accepted until COMMIT
    });
    const sameBatchTx = db.transaction().execute((trx) => trx.insertInto('items').values({ label: 'tx in failed batch' }).execute());
    const sameBatchWrite = db.insertInto('items').values({ label: 'write in failed batch' }).execute();
    const outcomes = await Promise.allSettled([orphan, sameBatchTx, sameBatchWrite]);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      if (outcome.status === 'rejected') expect(String(outcome.reason)).toMatch(/FOREIGN KEY constraint failed/);
    }
    expect(commits()).toBe(1);
    expect(sqlite.inTransaction).toBe(false);
    expect(driver.group.open).toBe(false);
    // Nothing of the batch is in the file, nor still visible to the connection itself.
    expect(seen()).toEqual([]);
    expect(observer.prepare('SELECT count(*) AS n FROM parents').get()).toEqual({ n: 0 });
    expect(await db.selectFrom('children').selectAll().execute()).toEqual([]);

    await db.transaction().execute((trx) => trx.insertInto('items').values({ label: 'tx after' }).execute());
    await db.insertInto('items').values({ label: 'write after' }).execute();
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('parents').values({ id: 2 }).execute();
      await trx.insertInto('children').values({ id: 2, parent_id: 2 }).execute();
    });
    expect(seen()).toEqual(['tx after', 'write after']);
    expect(observer.prepare('SELECT id, parent_id FROM children').all()).toEqual([{ id: 2, parent_id: 2 }]);
  });

  describe('afterCommit (work that must run only once its writes are durable)', () => {
    it("runs a committed transaction's work after the COMMIT, and drops a rolled-back one's", async () => {
      const ran: string[] = [];
      const kept = db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ label: 'kept' }).execute();
        driver.group.afterCommit(() => ran.push(`kept, visible: ${seenLabel('kept')}`));
      });
      const failing = db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ label: 'undone' }).execute();
        driver.group.afterCommit(() => ran.push('undone'));
        throw new Error('the transaction fails');
      });
      await expect(failing).rejects.toThrow('the transaction fails');
      await kept;
      expect(ran).toEqual(['kept, visible: true']);
    });

    it("drops the work of a direct transaction whose work throws, and of a savepoint rolled back to; keeps the rest's", async () => {
      const ran: string[] = [];
      const insertLabel = prepared<{ label: string }>((k) => (k as unknown as Kysely<TestTables>).insertInto('items').values({ label: slot<string>('label') }));
      const direct = driver.transact(db as unknown as Kysely<never>, async (trx) => {
        await insertLabel(trx, { label: 'direct' });
        driver.group.afterCommit(() => ran.push('direct'));
      });
      const throwing = driver.transact(db as unknown as Kysely<never>, async (trx) => {
        await insertLabel(trx, { label: 'thrown' });
        driver.group.afterCommit(() => ran.push('thrown'));
        throw new Error('the work fails');
      });
      await expect(throwing).rejects.toThrow('the work fails');
      await direct;
      const trx = await db.startTransaction().execute();
      await trx.insertInto('items').values({ label: 'outer' }).execute();
      driver.group.afterCommit(() => ran.push('outer'));
      const sp = await trx.savepoint('sp_one').execute();
      await sp.insertInto('items').values({ label: 'inner' }).execute();
      driver.group.afterCommit(() => ran.push('inner, rolled back to'));
      await (await sp.rollbackToSavepoint('sp_one').execute()).releaseSavepoint('sp_one').execute();
      await trx.commit().execute();
      await driver.group.durable();
      expect(ran).toEqual(['direct', 'outer']);
      expect(seen()).toEqual(['direct', 'outer']);
    });

    it('drops the work of every writer of a batch whose COMMIT fails', async () => {
      const ran: string[] = [];
      const orphan = db.transaction().execute(async (trx) => {
        await trx.insertInto('parents').values({ id: 1 }).execute();
        await trx.insertInto('children').values({ id: 1, parent_id: 999 }).execute(); // accepted until COMMIT
        driver.group.afterCommit(() => ran.push('orphan'));
      });
      const sameBatch = db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ label: 'in the failed batch' }).execute();
        driver.group.afterCommit(() => ran.push('same batch'));
      });
      await Promise.allSettled([orphan, sameBatch]);
      expect(ran).toEqual([]);
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ label: 'after' }).execute();
        driver.group.afterCommit(() => ran.push('after'));
      });
      expect(ran).toEqual(['after']);
    });
  });

  it('supports savepoints inside a controlled transaction and refuses unsafe savepoint names', async () => {
    const trx = await db.startTransaction().execute();
    await trx.insertInto('items').values({ label: 'kept' }).execute();
    const sp = await trx.savepoint('sp_one').execute();
    await sp.insertInto('items').values({ label: 'undone' }).execute();
    await (await sp.rollbackToSavepoint('sp_one').execute()).releaseSavepoint('sp_one').execute();
    await expect(trx.savepoint('x"; DROP TABLE items; --').execute()).rejects.toThrow(/invalid savepoint name/);
    await trx.commit().execute();
    // Kysely gives a controlled transaction's connection back after commit() returns, and the wait
    // for the group COMMIT happens on that release: durable once the group commits.
    await driver.group.durable();
    expect(seen()).toEqual(['kept']);
    expect(sqlite.inTransaction).toBe(false);
  });

  it('commits pending writes on destroy() without waiting for the window', async () => {
    await destroy();
    await open(60_000); // the window alone would not commit within the test
    let settled = false;
    const write = db
      .insertInto('items')
      .values({ label: 'pending' })
      .execute()
      .then(() => (settled = true));
    await db.selectFrom('items').selectAll().execute(); // queued after the write: the write has run
    expect(driver.group.open).toBe(true);
    expect(seen()).toEqual([]);

    const started = performance.now();
    await destroy();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(seen()).toEqual(['pending']);
    await write;
    expect(settled).toBe(true);
    expect(sqlite.open).toBe(false);
  });

  // Outside writers (rate-limiter-flexible) write on the shared handle through driver.exclusive(). A
  // Kysely transaction holds its savepoint across its awaits; a write landing inside that savepoint
  // would be undone by the transaction's ROLLBACK TO. exclusive() waits until the transaction is over.
  it('keeps a write made through driver.exclusive() while a transaction was open, when that transaction fails', async () => {
    const failing = db.transaction().execute(async (trx) => {
      await trx.insertInto('items').values({ label: 'tx' }).execute();
      await sleep(20); // an await inside the transaction: other requests run meanwhile
      throw new Error('the transaction fails');
    });
    await sleep(5);
    let ranAt = 0;
    const outside = driver.exclusive(async () => {
      ranAt = Date.now();
      sqlite.prepare('INSERT INTO items (label) VALUES (?)').run('outside writer');
    });
    const startedAt = Date.now();
    await expect(failing).rejects.toThrow('the transaction fails');
    await outside;
    expect(ranAt).toBeGreaterThanOrEqual(startedAt + 5); // it waited for the transaction to end
    await driver.group.durable();
    expect(seen()).toEqual(['outside writer']);
  });

  // `db.connection()` (also how Kysely's Migrator runs SQLite migrations) hands out one connection for
  // several queries: it must hold the connection until the scope ends, even after a write.
  it('keeps the writes of db.connection() that were reported done, when a concurrent transaction fails', async () => {
    const failing = (async () => {
      await sleep(2);
      return db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ label: 'tx' }).execute();
        await sleep(20);
        throw new Error('the transaction fails');
      });
    })();
    await db.connection().execute(async (conn) => {
      await conn.insertInto('items').values({ label: 'conn 1' }).execute();
      await sleep(8); // the transaction has begun meanwhile
      await conn.insertInto('items').values({ label: 'conn 2' }).execute();
    });
    await expect(failing).rejects.toThrow('the transaction fails');
    expect(seen()).toEqual(['conn 1', 'conn 2']);
  });
  describe('transact (direct transactions of prepared queries)', () => {
    const insertItem = prepared<{ label: string }>((k) => (k as unknown as Kysely<TestTables>).insertInto('items').values({ label: slot<string>('label') }));
    const kysely = (): Kysely<never> => db as unknown as Kysely<never>;

    it('runs its prepared queries in a savepoint of the group and answers once they are committed', async () => {
      const done = await Promise.all(
        ['t1', 't2', 't3'].map((label) =>
          driver.transact(kysely(), async (trx) => {
            await insertItem(trx, { label });
            await insertItem(trx, { label: `${label}-b` });
            return label;
          }).then((label) => ({ label, visible: seenLabel(label) && seenLabel(`${label}-b`) })),
        ),
      );
      expect(done).toEqual([{ label: 't1', visible: true }, { label: 't2', visible: true }, { label: 't3', visible: true }]);
      expect(savepoints()).toBe(3);
      expect(commits()).toBe(1);
    });

    it('rolls back only its own writes when its work throws, and hands the error on', async () => {
      const ok = driver.transact(kysely(), async (trx) => insertItem(trx, { label: 'kept' }));
      const failing = driver.transact(kysely(), async (trx) => {
        await insertItem(trx, { label: 'undone' });
        throw new Error('the work fails');
      });
      await expect(failing).rejects.toThrow('the work fails');
      await ok;
      expect(seen()).toEqual(['kept']);
      expect(sqlite.inTransaction).toBe(false);
    });

    it('waits for a Kysely transaction that holds the connection, and is waited for in turn', async () => {
      const order: string[] = [];
      const kyselyTx = db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ label: 'kysely' }).execute();
        await sleep(15);
        order.push('kysely done');
      });
      await sleep(2);
      const direct = driver.transact(kysely(), async (trx) => {
        order.push('direct starts');
        await insertItem(trx, { label: 'direct' });
      });
      await Promise.all([kyselyTx, direct]);
      expect(order).toEqual(['kysely done', 'direct starts']);
      expect(seen()).toEqual(['kysely', 'direct']);
    });

    it('refuses use of its handle once it is over', async () => {
      let kept: Parameters<Parameters<GroupCommitDriver['transact']>[1]>[0] | undefined;
      await driver.transact(kysely(), async (trx) => {
        kept = trx;
      });
      expect(() => kept?.run('SELECT 1', [])).toThrow('the transaction is over');
    });
  });
});

describe('openStore on SQLite', () => {
  it('runs the migrations through the group-commit driver, then writes and reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otpgate-driver-store-'));
    const file = join(dir, 'otpgate.db');
    const store = openStore(`sqlite:${file}`);
    const observer = new BetterSqlite3(file);
    try {
      expect(store.sqliteDriver).toBeTruthy();
      expect(await migrateToLatest(store.db)).toEqual(Object.keys(migrations).sort());
      expect(await migrateToLatest(store.db)).toEqual([]);
      expect(store.sqlite?.inTransaction).toBe(false);

      const row = { id: 'int_1', name: 'Acme', trust_level: 'standard', policy_json: '{}', created_at: 1, updated_at: 1, deleted_at: null };
      await store.db.insertInto('integrations').values(row).execute();
      expect(observer.prepare('SELECT id, name FROM integrations').all()).toEqual([{ id: 'int_1', name: 'Acme' }]);
      expect(await store.db.selectFrom('integrations').selectAll().where('id', '=', 'int_1').executeTakeFirst()).toEqual(row);
    } finally {
      observer.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
