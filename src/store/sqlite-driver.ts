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
 * group transaction, and a write outside a transaction simply joins it. Both give the connection
 * back as soon as their statements have run and then wait for the group's COMMIT, so the next
 * request's statements run while this one waits for durability. Reads never wait: SQLite serves
 * them from the one connection, which sees every write that has run.
 */
export class GroupCommitDriver implements Driver {
  readonly #mutex = new Mutex();
  readonly group: GroupCommit;

  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    windowMs = 0,
  ) {
    this.group = new GroupCommit(sqlite, this.#mutex, windowMs);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<GroupConnection> {
    await this.#mutex.lock();
    return new GroupConnection(this.sqlite, this.group, this.#mutex);
  }

  async beginTransaction(connection: GroupConnection): Promise<void> {
    this.group.join();
    this.sqlite.exec(`SAVEPOINT ${TX_SAVEPOINT}`);
    connection.inTransaction = true;
  }

  async commitTransaction(connection: GroupConnection): Promise<void> {
    this.sqlite.exec(`RELEASE ${TX_SAVEPOINT}`);
    connection.inTransaction = false;
    connection.release();
    await this.group.durable();
  }

  async rollbackTransaction(connection: GroupConnection): Promise<void> {
    connection.inTransaction = false;
    if (!this.sqlite.inTransaction) return; // a failed COMMIT or a fatal error ended it already
    this.sqlite.exec(`ROLLBACK TO ${TX_SAVEPOINT}`);
    this.sqlite.exec(`RELEASE ${TX_SAVEPOINT}`);
  }

  async savepoint(_connection: GroupConnection, name: string): Promise<void> {
    this.sqlite.exec(`SAVEPOINT ${savepointName(name)}`);
  }

  async rollbackToSavepoint(_connection: GroupConnection, name: string): Promise<void> {
    this.sqlite.exec(`ROLLBACK TO ${savepointName(name)}`);
  }

  async releaseSavepoint(_connection: GroupConnection, name: string): Promise<void> {
    this.sqlite.exec(`RELEASE ${savepointName(name)}`);
  }

  async releaseConnection(connection: GroupConnection): Promise<void> {
    connection.release();
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

/** One hold of the connection, from acquireConnection to its (possibly early) release. */
class GroupConnection implements DatabaseConnection {
  inTransaction = false;
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
    const parameters = compiled.parameters as unknown[];
    const standaloneWrite = !statement.readonly && !this.inTransaction;
    if (standaloneWrite) this.group.join();
    let result: QueryResult<R>;
    if (statement.reader) {
      result = { rows: statement.all(parameters) as R[] };
    } else {
      const { changes, lastInsertRowid } = statement.run(parameters);
      result = { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    }
    if (standaloneWrite) {
      this.release();
      await this.group.durable();
    }
    return result;
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used with the embedded store');
  }
}

/** Kysely's SQLite dialect with the group-commit driver; `driver.group` lets other writers join. */
export function groupCommitDialect(sqlite: BetterSqlite3.Database, windowMs = 0): { dialect: Dialect; driver: GroupCommitDriver } {
  const driver = new GroupCommitDriver(sqlite, windowMs);
  const dialect: Dialect = {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => driver,
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createIntrospector: (db: Kysely<unknown>) => new SqliteIntrospector(db),
  };
  return { dialect, driver };
}
