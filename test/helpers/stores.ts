import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { prepareStatementsOn } from '../../src/store/pg-pipeline.js';

/**
 * The store the integration suites run on. `npm test` uses SQLite; with OTPGATE_TEST_STORE=postgres
 * (and OTPGATE_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres) every runtime gets
 * a throwaway Postgres database, plus Redis when OTPGATE_TEST_REDIS_URL is set. `.ci/run` runs the
 * route and gate suites both ways.
 */
export const TEST_STORE = process.env.OTPGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const POSTGRES_URL = process.env.OTPGATE_TEST_DATABASE_URL || null;
export const REDIS_URL = process.env.OTPGATE_TEST_REDIS_URL || null;

/** Why a suite that needs an outside service is skipped (global-setup fails the run instead under OTPGATE_TEST_REQUIRE_SERVICES=1, as .ci/run sets it). */
export const NEEDS_POSTGRES = 'needs Postgres: set OTPGATE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)';
export const NEEDS_REDIS = 'needs Redis: set OTPGATE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)';

export interface Dialect {
  name: 'sqlite' | 'postgres';
  open(): Promise<{ url: string; drop(): Promise<void> }>;
  /** Set when the dialect's server is not configured: its suite shows as skipped, with this reason. */
  skip?: string;
}

/** The stores a storage suite loops over: a fresh SQLite file, and a throwaway Postgres database (skipped, with the reason, without one). */
export function storeDialects(prefix: string): Dialect[] {
  return [
    {
      name: 'sqlite',
      open: async () => {
        const dir = mkdtempSync(join(tmpdir(), `otpgate-${prefix}-`));
        return { url: `sqlite:${join(dir, 'otpgate.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
      },
    },
    { name: 'postgres', open: () => createThrowawayDatabase(POSTGRES_URL as string), ...(POSTGRES_URL ? {} : { skip: NEEDS_POSTGRES }) },
  ];
}

/** `describe` once per dialect (`$name` in the title), a dialect without its server as a skipped suite that says why. */
export function eachDialect(dialects: Dialect[]) {
  return (title: string, body: (dialect: Dialect) => void): void => {
    for (const d of dialects) {
      const name = title.replace('$name', d.name);
      if (d.skip) describe.skip(`${name} (skipped: ${d.skip})`, () => body(d));
      else describe(name, () => body(d));
    }
  };
}

/**
 * The dialect's throwaway database, migrated and opened before the suite's tests and closed and
 * dropped after them (register inside the suite's describe). Call the returned function in a test or
 * a later hook for the store.
 */
export function useMigratedStore(dialect: Dialect): () => Store {
  let store: Store | undefined;
  let db: { url: string; drop(): Promise<void> } | undefined;
  beforeAll(async () => {
    db = await dialect.open();
    store = openStore(db.url);
    await migrateToLatest(store.db);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });
  return () => {
    if (!store) throw new Error('useMigratedStore: the store opens in beforeAll');
    return store;
  };
}

/** A fresh, empty Postgres database on the test server; `drop()` removes it. */
export async function createThrowawayDatabase(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `otpgate_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Environment for a runtime on the selected store (empty for SQLite: the data dir decides). */
export async function storeEnv(): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  if (TEST_STORE === 'sqlite') return { env: {}, drop: async () => {} };
  if (!POSTGRES_URL) throw new Error('OTPGATE_TEST_STORE=postgres needs OTPGATE_TEST_DATABASE_URL');
  const db = await createThrowawayDatabase(POSTGRES_URL);
  // A Postgres deployment must set OTPGATE_SECRET (the runtime refuses to start without it).
  const secret = randomBytes(32).toString('base64url');
  // OTPGATE_TEST_WITHOUT_REDIS=1: the runtimes run on Postgres alone (limits, lockouts and sessions in the database).
  const redis: Record<string, string> = REDIS_URL && process.env.OTPGATE_TEST_WITHOUT_REDIS !== '1' ? { OTPGATE_REDIS_URL: REDIS_URL } : {};
  return { env: { OTPGATE_DATABASE_URL: db.url, OTPGATE_SECRET: secret, ...redis }, drop: db.drop };
}

/**
 * A real Redis client for a suite (opened before it, quit after), or null where OTPGATE_TEST_REDIS_URL
 * is unset: such a suite goes under `describe.skipIf(!REDIS_URL)` with NEEDS_REDIS in its title.
 */
export function useRealRedis(): () => Redis {
  let redis: Redis | null = null;
  beforeAll(() => {
    redis = new Redis(REDIS_URL ?? '');
  });
  afterAll(async () => {
    await redis?.quit();
  });
  return () => {
    if (!redis) throw new Error('useRealRedis: no client outside a test');
    return redis;
  };
}

/** The title of a suite that needs Redis: it says why where it is skipped. */
export const onRealRedis = `on a real Redis${REDIS_URL ? '' : ` (skipped: ${NEEDS_REDIS})`}`;

/**
 * A pool on `url` (a throwaway database) whose clients record the text of every query they send, a
 * round trip each, in `trips`; errors of idle connections are ignored (the drop at the end ends them).
 */
export function recordingPool(url: string, max: number): { pool: pg.Pool; trips: string[] } {
  const trips: string[] = [];
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      trips.push(typeof args[0] === 'string' ? args[0] : '(config)');
      return query(...args);
    };
  });
  return { pool, trips };
}

/**
 * For one describe block: a throwaway database (created before its tests, `prepare` run on it, dropped
 * after) with a recording pool of `max` connections (recordingPool) and a Kysely instance on that pool.
 */
export function useRecordingDatabase(
  max: number,
  prepare: (pool: pg.Pool) => Promise<unknown> = async () => {},
  /** Pipelined statements are PREPAREd on each connection, this many at most (as the store's pool does; default: not). */
  preparedStatements = 0,
): { pool: pg.Pool; kysely: Kysely<never>; trips: string[] } {
  const handle = { pool: undefined as unknown as pg.Pool, kysely: undefined as unknown as Kysely<never>, trips: [] as string[] };
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    drop = db.drop;
    const recording = recordingPool(db.url, max);
    recording.pool.on('connect', (client) => prepareStatementsOn(client, preparedStatements));
    Object.assign(handle, { pool: recording.pool, trips: recording.trips, kysely: new Kysely<never>({ dialect: new PostgresDialect({ pool: recording.pool }) }) });
    await prepare(recording.pool);
  });
  afterAll(async () => {
    await handle.kysely?.destroy();
    await drop?.();
  });
  return handle;
}
