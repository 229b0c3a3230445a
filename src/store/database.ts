import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations/index.js';
import { startCheckpointer, type Checkpointer } from './checkpointer.js';
import { PgGroupCommit } from './pg-group-commit.js';
import { nameQueriesOn, QueryNames } from './pg-named-queries.js';
import { prepareStatementsOn } from './pg-pipeline.js';
import { groupCommitDialect, type GroupCommitDriver } from './sqlite-driver.js';
import { withStatementCache } from './statement-cache.js';
import type { Db } from './tables.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  readonly db: Db;
  readonly dialect: Dialect;
  /** The raw SQLite handle (rate-limiter-flexible's SQLite store shares it); null on Postgres. */
  readonly sqlite: BetterSqlite3.Database | null;
  /** SQLite's group-commit driver: writers outside Kysely (rate-limiter-flexible) go through `exclusive`; null on Postgres. */
  readonly sqliteDriver: GroupCommitDriver | null;
  readonly pgPool: pg.Pool | null;
  /** Postgres group commit for the transactions that may share one (pg-group-commit.ts); null on SQLite or when off. */
  readonly pgGroupCommit: PgGroupCommit | null;
  close(): Promise<void>;
}

// int8 columns hold epoch milliseconds, far inside Number's safe range.
pg.types.setTypeParser(20, (value: string) => Number(value));

export interface StoreOptions {
  /** SQLite: how long a group commit gathers writes (0: one turn of the event loop). */
  commitWindowMs?: number;
  /**
   * SQLite file: checkpoint the WAL from a worker thread (see checkpointer.ts) instead of inside
   * the COMMITs of the serving thread, every `intervalMs` (config: OTPGATE_SQLITE_CHECKPOINT_MS). For
   * long-running processes; one-shot commands skip it.
   */
  backgroundCheckpoint?: { intervalMs: number; onError?: (message: string) => void };
  /** Postgres: connections in the pool (default 10). */
  poolSize?: number;
  /** Postgres: transactions one group commit holds at most (default 1: no group commit). */
  groupCommitMax?: number;
  /** Postgres: distinct statements prepared on each connection, pipelined and one at a time alike (default 500; 0: none; see pg-pipeline.ts, pg-named-queries.ts). */
  preparedStatements?: number;
}

/**
 * The database holds sealed secrets, hashes and personal data: owner-only. A new file is created
 * 0600 before SQLite opens it (in a new 0700 directory); SQLite gives the -wal and -shm files it
 * creates later the database file's mode.
 */
function createOwnerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600)); // an empty file is a new database to SQLite
}

/** Files of an older version (created 0644) are tightened, -wal and -shm included (best effort: another owner's file stays as it is). */
function tightenModes(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if (existsSync(file)) chmodSync(file, 0o600);
    } catch {
      // not ours to change (EPERM): the operator chose its permissions
    }
  }
}

/** WAL pages after which the serving connection checkpoints itself (the background one's backstop). */
const BACKSTOP_CHECKPOINT_PAGES = 10_000;

export function openStore(databaseUrl: string, options: StoreOptions = {}): Store {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    if (path !== ':memory:') createOwnerOnly(path);
    const sqlite = withStatementCache(new BetterSqlite3(path));
    sqlite.pragma('journal_mode = WAL');
    if (path !== ':memory:') tightenModes(path);
    sqlite.pragma('synchronous = NORMAL'); // durable across process crashes; WAL keeps commits atomic
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('cache_size = -32000'); // 32 MB page cache
    sqlite.pragma('temp_store = MEMORY');
    let checkpointer: Checkpointer | null = null;
    if (options.backgroundCheckpoint && path !== ':memory:') {
      sqlite.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
      checkpointer = startCheckpointer(path, options.backgroundCheckpoint);
    }
    const { dialect, driver } = groupCommitDialect(sqlite, options.commitWindowMs ?? 0);
    const db: Db = new Kysely({ dialect });
    const close = async (): Promise<void> => {
      await db.destroy();
      await checkpointer?.stop();
    };
    return { db, dialect: 'sqlite', sqlite, sqliteDriver: driver, pgPool: null, pgGroupCommit: null, close };
  }
  // Bounded waits everywhere: a lost database answers 503 within seconds instead of hanging.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolSize ?? 10, connectionTimeoutMillis: 3000, query_timeout: 10_000, statement_timeout: 10_000 });
  // A dropped connection emits 'error' on the pool (idle clients) and on a checked-out client; with no
  // listener either one would crash the process. The query in progress reports the failure itself.
  pool.on('error', () => {});
  const preparedStatements = options.preparedStatements ?? 500;
  const queryNames = preparedStatements > 0 ? new QueryNames(preparedStatements) : null;
  pool.on('connect', (client) => {
    client.on('error', () => {});
    prepareStatementsOn(client, preparedStatements); // the pipelined transactions' statements
    if (queryNames) nameQueriesOn(client, queryNames); // and Kysely's queries sent one at a time
  });
  const db: Db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  const groupCommitMax = options.groupCommitMax ?? 1;
  const pgGroupCommit = groupCommitMax > 1 ? new PgGroupCommit(db as unknown as Kysely<never>, pool, { maxMembers: groupCommitMax }) : null;
  return { db, dialect: 'postgres', sqlite: null, sqliteDriver: null, pgPool: pool, pgGroupCommit, close: () => db.destroy() };
}

/** Brings the schema to the latest migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
