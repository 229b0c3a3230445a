import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Random } from './domain/clock.js';
import { seal, unseal } from './domain/codes.js';
import type { Db } from './store/tables.js';

/**
 * A secret kept in the data directory: read when present, otherwise generated and written with
 * owner-only permissions (the file 0600, a new data directory 0700). `created` tells the caller to
 * announce it (first start).
 */
export function loadOrCreateSecret(dataDir: string, file: string, generate: () => string): { value: string; created: boolean } {
  const path = join(dataDir, file);
  if (existsSync(path)) {
    ownerOnly(path);
    return { value: readFileSync(path, 'utf8').trim(), created: false };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const value = generate();
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}

/** A secret file an older version left readable by others is tightened (best effort: another owner's file stays). */
function ownerOnly(path: string): void {
  try {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch {
    // not ours to change
  }
}

export const generateAdminToken = (): string => `otpg_admin_${randomBytes(24).toString('base64url')}`;
export const generateServerSecret = (): string => randomBytes(32).toString('base64url');

/** The `meta` table (migration 008): small key/value facts about the database. */
type MetaTables = { meta: { key: string; value: string } };

const CHECK_KEY = 'server_secret_check';
const CHECK_VALUE = 'otpgate server secret check';

/**
 * Refuses a server secret that is not the one this database's sealed values were made with (a
 * changed OTPGATE_SECRET, or a data directory's `server-secret` file lost or replaced): without it
 * no sealed code, signing secret or signing key opens, and the start would otherwise crash on the
 * first of them with an AES-GCM error. The first start seals a check value into `meta`; a database
 * of an older version (no check value yet) is checked against its signing key first.
 */
export async function verifyServerSecret(store: Db, serverSecret: Buffer, random: Random): Promise<void> {
  const db = store.withTables<MetaTables>();
  const opens = (sealed: string): boolean => {
    try {
      unseal(serverSecret, sealed);
      return true;
    } catch {
      return false;
    }
  };
  const refuse = (): never => {
    throw new Error(
      'The server secret does not match this database: its sealed values were made with another one. Set OTPGATE_SECRET to the secret ' +
        'this database was created with (or restore the data directory’s server-secret file). A new secret cannot open existing codes, keys or signing secrets.',
    );
  };
  const check = await db.selectFrom('meta').select('value').where('key', '=', CHECK_KEY).executeTakeFirst();
  if (check) {
    if (!opens(check.value)) refuse();
    return;
  }
  const signingKey = await store.selectFrom('signing_keys').select('private_jwk_sealed').orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  if (signingKey && !opens(signingKey.private_jwk_sealed)) refuse();
  await db.insertInto('meta').values({ key: CHECK_KEY, value: seal(serverSecret, random, CHECK_VALUE) }).onConflict((oc) => oc.column('key').doNothing()).execute();
  // Another process may have written it first (a shared Postgres): the stored one decides.
  const stored = await db.selectFrom('meta').select('value').where('key', '=', CHECK_KEY).executeTakeFirstOrThrow();
  if (!opens(stored.value)) refuse();
}

/**
 * The deployment's server secret, as every entry point (server, worker, CLI) must get it: required
 * with Postgres (processes on several hosts must share it), else OTPGATE_SECRET or the data
 * directory's; then checked against the value sealed at the first start (a wrong secret is refused
 * with a message naming OTPGATE_SECRET instead of failing later on sealed data).
 */
export function requireSharedSecret(config: { serverSecret: string | null; databaseUrl: string }): void {
  if (!config.serverSecret && !config.databaseUrl.startsWith('sqlite:')) {
    throw new Error('OTPGATE_SECRET is required with Postgres: set the same secret (≥ 32 characters) for every process of the deployment');
  }
}

export async function loadServerSecret(config: { serverSecret: string | null; dataDir: string }, db: Db, random: Random): Promise<Buffer> {
  const secret = Buffer.from(config.serverSecret ?? loadOrCreateSecret(config.dataDir, 'server-secret', generateServerSecret).value, 'utf8');
  await verifyServerSecret(db, secret, random);
  return secret;
}
