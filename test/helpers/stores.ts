import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The store the integration suites run on. `npm test` uses SQLite; with OTPGATE_TEST_STORE=postgres
 * (and OTPGATE_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres) every runtime gets
 * a throwaway Postgres database, plus Redis when OTPGATE_TEST_REDIS_URL is set. `.ci/run` runs the
 * route and gate suites both ways.
 */
export const TEST_STORE = process.env.OTPGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const POSTGRES_URL = process.env.OTPGATE_TEST_DATABASE_URL || null;
export const REDIS_URL = process.env.OTPGATE_TEST_REDIS_URL || null;

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
  return { env: { OTPGATE_DATABASE_URL: db.url, ...(REDIS_URL ? { OTPGATE_REDIS_URL: REDIS_URL } : {}) }, drop: db.drop };
}
