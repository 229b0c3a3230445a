import type BetterSqlite3 from 'better-sqlite3';
import {
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';
import { GroupCommit, Mutex } from './group-commit.js';

const TX_SAVEPOINT = 'otpg_tx';

/**
 * Kysely's SQLite driver, on group commit: a Kysely transaction is a savepoint inside the open
 * group transaction, and a write outside a transaction simply joins it. Whoever holds the
 * connection (one query, a transaction, or a `db.connection()` scope) runs alone; when Kysely gives
 * the connection back, a holder that wrote waits for the group's COMMIT, after unlocking, so the
 * next request's statements run while this one waits for durability. Reads never wait: SQLite
 * serves them from the one connection, which sees every write that has run. (A controlled
 * transaction, `startTransaction()`, is released by Kysely after `commit()` returns: its writes are
 * durable at the group's next COMMIT, which `driver.group.durable()` awaits. otpgate does not use it.)
 */
export class GroupCommitDriver implements Driver {
  readonly #mutex = new Mutex();
  readonly group: GroupCommit;
  // Prepared once: `exec` parses its SQL on every call.
  readonly #savepoint: BetterSqlite3.Statement;
  readonly #release: BetterSqlite3.Statement;
  readonly #rollbackTo: BetterSqlite3.Statement;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    windowMs = 0,
  ) {
    this.group = new GroupCommit(sqlite, this.#mutex, windowMs);
    this.#savepoint = sqlite.prepare(`SAVEPOINT ${TX_SAVEPOINT}`);
    this.#release = sqlite.prepare(`RELEASE ${TX_SAVEPOINT}`);
    this.#rollbackTo = sqlite.prepare(`ROLLBACK TO ${TX_SAVEPOINT}`);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<GroupConnection> {
    await this.#mutex.lock();
    return new GroupConnection(this.sqlite, this.group, this.#mutex);
  }

  async beginTransaction(connection: GroupConnection): Promise<void> {
    this.group.join();
    this.#savepoint.run();
    this.group.enterSavepoint();
    connection.inTransaction = true;
  }

  async commitTransaction(connection: GroupConnection): Promise<void> {
    this.#release.run();
    this.group.leaveSavepoint(true);
    connection.inTransaction = false;
    connection.wrote = true; // durable once the group commits: releaseConnection waits for that
  }

  async rollbackTransaction(connection: GroupConnection): Promise<void> {
    connection.inTransaction = false;
    this.group.leaveSavepoint(false);
    if (!this.sqlite.inTransaction) return; // a fatal error ended the whole group transaction
    this.#rollbackTo.run();
    this.#release.run();
  }

  async savepoint(_connection: GroupConnection, name: string): Promise<void> {
    this.sqlite.exec(`SAVEPOINT ${savepointName(name)}`);
    this.group.enterSavepoint();
  }

  async rollbackToSavepoint(_connection: GroupConnection, name: string): Promise<void> {
    this.sqlite.exec(`ROLLBACK TO ${savepointName(name)}`);
    this.group.rollBackSavepoint();
  }

  async releaseSavepoint(_connection: GroupConnection, name: string): Promise<void> {
    this.sqlite.exec(`RELEASE ${savepointName(name)}`);
    this.group.leaveSavepoint(true);
  }

  /**
   * Runs an already compiled statement at once, without Kysely's executor, when that is safe:
   * inside a transaction (whose callback holds the connection) or when nobody holds the connection.
   * Returns undefined when someone else's transaction holds it: the caller then queues through
   * Kysely like any query. Writes outside a transaction join the group and settle once committed.
   * Prepared queries use this (see prepared.ts): Kysely's executor, connection provider and their
   * promises were a tenth of a send's CPU time.
   */
  runDirect<R>(sql: string, parameters: readonly unknown[], inTransaction: boolean): Promise<QueryResult<R>> | undefined {
    // Inside a transaction its callback holds the connection; outside, nobody may be holding it
    // (a statement run now would land inside someone's open savepoint and share its fate).
    if (!inTransaction && this.#mutex.locked) return undefined;
    const statement = this.sqlite.prepare(sql);
    if (inTransaction || statement.readonly) return Promise.resolve(runStatement<R>(statement, parameters));
    this.group.join();
    const result = runStatement<R>(statement, parameters);
    return this.group.durable().then(() => result);
  }

  /**
   * A transaction of prepared queries only, without Kysely's transaction machinery (a Kysely
   * instance per transaction, its executor and connection provider: about a third of the cost of a
   * two-statement transaction): the connection is held, a savepoint opened in the group
   * transaction, `work` runs its prepared queries straight on the connection, and the answer waits
   * for the group's COMMIT like any other writer's.
   */
  async transact<T>(db: Kysely<never>, work: (trx: DirectTransaction) => Promise<T>): Promise<T> {
    await this.#mutex.lock();
    let result: T;
    try {
      this.group.join();
      this.#savepoint.run();
      this.group.enterSavepoint();
      const trx = new DirectTransaction(db, this.sqlite);
      try {
        result = await work(trx);
      } catch (error) {
        this.group.leaveSavepoint(false);
        if (this.sqlite.inTransaction) {
          this.#rollbackTo.run();
          this.#release.run();
        }
        throw error;
      } finally {
        trx.close();
      }
      try {
        this.#release.run();
      } catch (error) {
        this.group.leaveSavepoint(false); // the transaction failed: its after-commit work is dropped
        throw error;
      }
      this.group.leaveSavepoint(true);
    } finally {
      this.#mutex.unlock();
    }
    await this.group.durable();
    return result;
  }

  async releaseConnection(connection: GroupConnection): Promise<void> {
    connection.release();
    if (connection.wrote) await this.group.durable();
  }

  /**
   * Runs `work` (which writes through the raw handle, like rate-limiter-flexible) holding the
   * connection, inside the group transaction: never inside another holder's savepoint, where a
   * rollback of theirs would undo it. Such writes are committed with the group but not waited for.
   */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    await this.#mutex.lock();
    try {
      this.group.join();
      return await work();
    } finally {
      this.#mutex.unlock();
    }
  }

  async destroy(): Promise<void> {
    await this.group.close();
    this.sqlite.close();
  }
}

function savepointName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid savepoint name ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/**
 * The transaction handle GroupCommitDriver.transact gives its work: prepared queries run on it
 * (see prepared.ts); Kysely's query builders do not accept it, so nothing else can.
 */
export class DirectTransaction {
  #open = true;

  constructor(
    /** The store's Kysely instance: prepared queries compile their SQL with it. */
    readonly kysely: Kysely<never>,
    private readonly sqlite: BetterSqlite3.Database,
  ) {}

  run<R>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    if (!this.#open) throw new Error('the transaction is over');
    return Promise.resolve(runStatement<R>(this.sqlite.prepare(sql), parameters));
  }

  close(): void {
    this.#open = false;
  }
}

function runStatement<R>(statement: BetterSqlite3.Statement, parameters: readonly unknown[]): QueryResult<R> {
  if (statement.reader) return { rows: statement.all(parameters) as R[] };
  const { changes, lastInsertRowid } = statement.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** One hold of the connection, from acquireConnection to its (possibly early) release. */
class GroupConnection implements DatabaseConnection {
  inTransaction = false;
  /** Wrote (a statement or a transaction): the holder waits for the group's COMMIT on release. */
  wrote = false;
  #released = false;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly group: GroupCommit,
    private readonly mutex: Mutex,
  ) {}

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.mutex.unlock();
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.sqlite.prepare(compiled.sql);
    if (!statement.readonly && !this.inTransaction) {
      this.group.join();
      this.wrote = true;
    }
    return runStatement<R>(statement, compiled.parameters);
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used with the embedded store');
  }
}

/** The driver behind a Kysely instance's adapter (shared by its transactions), for runDirect. */
const directDrivers = new WeakMap<object, GroupCommitDriver>();

/** The group-commit driver of `db` (a Kysely instance or transaction), if it runs on one. */
export function groupCommitDriverOf(db: { getExecutor(): { adapter: object } }): GroupCommitDriver | undefined {
  return directDrivers.get(db.getExecutor().adapter);
}

/** Kysely's SQLite dialect with the group-commit driver; `driver.exclusive` serves writers outside Kysely. */
export function groupCommitDialect(sqlite: BetterSqlite3.Database, windowMs = 0): { dialect: Dialect; driver: GroupCommitDriver } {
  const driver = new GroupCommitDriver(sqlite, windowMs);
  const adapter = new SqliteAdapter();
  directDrivers.set(adapter, driver);
  const dialect: Dialect = {
    createAdapter: () => adapter,
    createDriver: () => driver,
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (db: Kysely<unknown>) => new SqliteIntrospector(db),
  };
  return { dialect, driver };
}
