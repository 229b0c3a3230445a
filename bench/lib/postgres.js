// The throwaway Postgres database of a `--store postgres` run: created at the start, dropped
// (WITH (FORCE): the servers' pools may still hold connections) on every way out.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { onCleanup } from './processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_ADMIN_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const TIMEOUT_MS = 15_000;

/** A URL without its password, for messages. */
export function redact(url) {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

async function onAdminDatabase(adminUrl, run) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: TIMEOUT_MS, statement_timeout: TIMEOUT_MS });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot connect to ${redact(adminUrl)} (set OTPGATE_BENCH_DATABASE_URL): ${error.message}`);
  }
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const dropStatement = (name) => `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;

/** The exit handler cannot wait for a promise: a short child process drops the database instead. */
function dropSynchronously(adminUrl, name) {
  const script = `const pg = require('pg');
const client = new pg.Client({ connectionString: process.env.BENCH_ADMIN_URL, connectionTimeoutMillis: ${TIMEOUT_MS} });
client.connect().then(() => client.query(process.env.BENCH_DROP)).then(() => client.end(), (error) => { console.error(error.message); process.exit(1); });`;
  const outcome = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { ...process.env, BENCH_ADMIN_URL: adminUrl, BENCH_DROP: dropStatement(name) },
    timeout: 2 * TIMEOUT_MS,
    encoding: 'utf8',
  });
  if (outcome.status !== 0) console.warn(`bench: could not drop database ${name}: ${outcome.stderr?.trim() || outcome.error?.message || `status ${outcome.status}`}`);
}

/**
 * Creates `otpgate_bench_<random>` through `adminUrl` and registers its drop with the cleanup.
 * Returns { name, url } where url is adminUrl pointing at the new database.
 */
/**
 * ANALYZE of the whole database at `url`: the statistics autovacuum gathers on a database that has run
 * for a while (its first look comes only after autovacuum_naptime, a minute by default). Statements
 * prepared before it are planned again (an ANALYZE invalidates the plans kept for its tables).
 */
export async function analyzeDatabase(url) {
  await onAdminDatabase(url, (client) => client.query('ANALYZE'));
}

export async function createThrowawayDatabase(adminUrl, log = () => {}) {
  const name = `otpgate_bench_${randomBytes(6).toString('hex')}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  // Registered before CREATE is sent: a signal while it runs still drops what it made.
  let state = 'not sent'; // then 'sent', 'created' or 'failed'
  let creation = null;
  onCleanup(
    async () => {
      await creation?.catch(() => {});
      if (state !== 'created') return;
      await onAdminDatabase(adminUrl, (client) => client.query(dropStatement(name)));
      log(`dropped database ${name}`);
    },
    () => {
      if (state === 'sent' || state === 'created') dropSynchronously(adminUrl, name);
    },
  );
  state = 'sent';
  creation = onAdminDatabase(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`)).then(
    () => {
      state = 'created';
    },
    (error) => {
      state = 'failed';
      throw error;
    },
  );
  await creation;
  log(`created database ${name} on ${redact(adminUrl)}`);
  return { name, url: url.toString() };
}
