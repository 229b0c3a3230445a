import { CompiledQuery, SqliteAdapter, type Compilable, type Kysely, type QueryResult } from 'kysely';
import { PipelinedTransaction, pipelinedTransaction } from './pg-pipeline.js';
import { DirectTransaction, groupCommitDriverOf } from './sqlite-driver.js';
import type { Store } from './database.js';
import type { Db, Executor } from './tables.js';

/**
 * Where a prepared query runs: Kysely (an instance or a transaction), the embedded store's direct
 * transaction, or a pipelined Postgres transaction.
 */
export type QueryRunner = Executor | DirectTransaction | PipelinedTransaction;

/** A named placeholder in a prepared query: replaced by `args[name]` each time the query runs. */
class Slot {
  constructor(readonly name: string) {}
}

/** Stands where a value of type T goes in a query given to prepared(). */
export function slot<T>(name: string): T {
  return new Slot(name) as unknown as T;
}

/** `{ column: slot(column) }` for each of `columns`: an INSERT's values, or an UPDATE's set. */
export function slots<T>(columns: readonly (keyof T & string)[]): T {
  return Object.fromEntries(columns.map((column) => [column, slot(column)])) as T;
}

interface Template {
  sql: string;
  /** Per parameter: the slot it comes from, or null for a constant of the builder. */
  names: Array<string | null>;
  constants: readonly unknown[];
}

export interface PreparedOptions {
  /**
   * Its caller never reads the result (an INSERT, a lock): in a pipelined Postgres transaction it
   * resolves at once and is sent with the next statement that answers, or with the COMMIT; a failure
   * fails the transaction. Elsewhere it runs as any query.
   */
  deferrable?: boolean;
}

export type PreparedQuery<Args, Row> = (db: QueryRunner, args: Args) => Promise<QueryResult<Row>>;

/**
 * A query built and compiled once per dialect instead of on every call: write it with slot()s where
 * the values go, run it with an object of those values. Kysely builds an immutable operation tree and
 * compiles it to SQL on every execution, which on the hot paths cost more than SQLite's running of
 * the statement; the SQL text is the same each time, so it is done once (and the store's statement
 * cache then reuses the prepared statement as well).
 */
export function prepared<Args extends object, Row = never>(build: (db: Executor) => Compilable<Row>, options: PreparedOptions = {}): PreparedQuery<Args, Row> {
  const templates = new Map<unknown, Template>();
  const runOptions = { deferred: options.deferrable === true };
  return (runner, args) => {
    const db = runner instanceof DirectTransaction || runner instanceof PipelinedTransaction ? (runner.kysely as unknown as Db) : runner;
    const dialect = db.getExecutor().adapter.constructor; // SQLite and Postgres compile differently
    let template = templates.get(dialect);
    if (!template) {
      const compiled = build(db).compile();
      template = {
        sql: compiled.sql,
        names: compiled.parameters.map((parameter) => (parameter instanceof Slot ? parameter.name : null)),
        constants: compiled.parameters,
      };
      templates.set(dialect, template);
    }
    const values = args as Record<string, unknown>;
    const { names, constants } = template;
    const parameters = new Array<unknown>(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      if (name === null || name === undefined) {
        parameters[i] = constants[i];
        continue;
      }
      const value = values[name];
      if (value === undefined) throw new Error(`prepared query: no value for "${name}" in ${template.sql}`);
      parameters[i] = value;
    }
    if (runner instanceof DirectTransaction) return runner.run<Row>(template.sql, parameters);
    if (runner instanceof PipelinedTransaction) return runner.run<Row>(template.sql, parameters, runOptions);
    // The embedded store runs it at once when it can (no Kysely executor in between).
    const direct = groupCommitDriverOf(db)?.runDirect<Row>(template.sql, parameters, db.isTransaction);
    return direct ?? (db.executeQuery(CompiledQuery.raw(template.sql, parameters)) as Promise<QueryResult<Row>>);
  };
}

/**
 * Whether `runner` runs on the embedded store (SQLite), for the few statements written differently
 * there because SQLite runs them much slower in their portable form (see transitionFromPendingReturning).
 */
export function runsOnSqlite(runner: QueryRunner): boolean {
  if (runner instanceof DirectTransaction) return true;
  if (runner instanceof PipelinedTransaction) return false;
  return runner.getExecutor().adapter instanceof SqliteAdapter;
}

type Missing<T, L extends readonly unknown[]> = Exclude<keyof T, L[number]>;

/**
 * Every column of the row type T, checked at compile time: `allColumns<Row>()(['a', 'b'])` fails to
 * type-check while a column of Row is missing from the list. For INSERTs built with slots().
 */
export function allColumns<T>() {
  return <const L extends readonly (keyof T & string)[]>(columns: L, ...complete: [Missing<T, L>] extends [never] ? [] : [missing: Missing<T, L>]): L => {
    void complete;
    return columns;
  };
}

export interface PreparedTransactionOptions {
  /**
   * On Postgres with group commit on, the work may share a transaction with the others ready in the
   * same turn (pg-group-commit.ts). Only for works that write nothing but through `trx` (they may run
   * twice: a group that fails runs each member again alone); `lockKey` names the advisory lock the
   * work takes (identifierLockKey), so that no group holds it twice.
   */
  groupable?: { lockKey?: string };
}

/**
 * A transaction whose work runs prepared queries only: on the embedded store a direct transaction
 * (GroupCommitDriver.transact), on Postgres a pipelined one (pg-pipeline.ts: its statements share
 * round trips), grouped with others when it is `groupable`. Either way the returned promise settles
 * once the work is committed.
 */
export function preparedTransaction<T>(store: Store, work: (trx: QueryRunner) => Promise<T>, options: PreparedTransactionOptions = {}): Promise<T> {
  if (store.sqliteDriver) return store.sqliteDriver.transact(store.db as unknown as Kysely<never>, work);
  if (store.pgPool) {
    if (options.groupable && store.pgGroupCommit) return store.pgGroupCommit.run(work, options.groupable.lockKey);
    return pipelinedTransaction(store.db as unknown as Kysely<never>, store.pgPool, work);
  }
  return store.db.transaction().execute(work);
}
