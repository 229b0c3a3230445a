import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { POSTGRES_URL, createThrowawayDatabase } from '../helpers/stores.js';

const SECRET_A = 'a'.repeat(16) + 'secret-number-one-0123456789';
const SECRET_B = 'b'.repeat(16) + 'secret-number-two-0123456789';

const start = (env: Record<string, string>): Promise<Runtime> =>
  createRuntime(loadConfig({ OTPGATE_ADMIN_TOKEN: 'x'.repeat(32), OTPGATE_LOG_LEVEL: 'silent', ...env }), { logger: pino({ level: 'silent' }), worker: false });

/** Starts and closes a runtime (the first start seals the check value). */
async function startAndClose(env: Record<string, string>): Promise<void> {
  const rt = await start(env);
  await rt.close();
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'otpgate-secret-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('a server secret that does not match the data', () => {
  it('refuses a start with another OTPGATE_SECRET, with a message that names it', async () => {
    const dir = dataDir();
    await startAndClose({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_A });
    await expect(start({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_B })).rejects.toThrow(/OTPGATE_SECRET/);
    await expect(start({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_B })).rejects.not.toThrow(/authenticate data/);
    // The right one still starts.
    await startAndClose({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_A });
  });

  it('refuses a start whose server-secret file was replaced, or when OTPGATE_SECRET overrides it', async () => {
    const dir = dataDir();
    await startAndClose({ OTPGATE_DATA_DIR: dir }); // generates <dir>/server-secret
    await expect(start({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_B })).rejects.toThrow(/OTPGATE_SECRET/);
    writeFileSync(join(dir, 'server-secret'), `${SECRET_B}\n`);
    await expect(start({ OTPGATE_DATA_DIR: dir })).rejects.toThrow(/OTPGATE_SECRET/);
  });

  it('checks a database of an older version (no check value yet) against its signing key', async () => {
    const dir = dataDir();
    const rt = await start({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_A });
    await rt.store.db.withTables<{ meta: { key: string; value: string } }>().deleteFrom('meta').execute();
    await rt.close();
    await expect(start({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_B })).rejects.toThrow(/OTPGATE_SECRET/);
    await startAndClose({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_A }); // writes the check value
    await expect(start({ OTPGATE_DATA_DIR: dir, OTPGATE_SECRET: SECRET_B })).rejects.toThrow(/OTPGATE_SECRET/);
  });

  it('refuses Postgres without OTPGATE_SECRET (before connecting), naming the variable', async () => {
    // Nothing listens on port 1: the refusal comes before any connection.
    await expect(start({ OTPGATE_DATA_DIR: dataDir(), OTPGATE_DATABASE_URL: 'postgres://otpgate@127.0.0.1:1/otpgate' })).rejects.toThrow(/OTPGATE_SECRET is required with Postgres/);
  });
});

describe('on Postgres', () => {
  it.skipIf(!POSTGRES_URL)('refuses another OTPGATE_SECRET, and a start without one (needs OTPGATE_TEST_DATABASE_URL)', async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    cleanups.push(() => db.drop());
    const env = { OTPGATE_DATA_DIR: dataDir(), OTPGATE_DATABASE_URL: db.url };
    await startAndClose({ ...env, OTPGATE_SECRET: SECRET_A });
    await expect(start({ ...env, OTPGATE_SECRET: SECRET_B })).rejects.toThrow(/OTPGATE_SECRET/);
    await expect(start(env)).rejects.toThrow(/OTPGATE_SECRET is required with Postgres/);
    await startAndClose({ ...env, OTPGATE_SECRET: SECRET_A });
  });
});
