import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync, closeSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRuntime } from '../../src/runtime.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { claimDue, enqueue, markDone, release } from '../../src/store/outbox-repo.js';
import { eachDialect, storeDialects, useMigratedStore } from '../helpers/stores.js';

const WORKER = 'worker-1';
/** A message payload as versions before deliveries kept their spec wrote it: with the sealed code. */
const legacyPayload = (deliveryId: string): string => JSON.stringify({ delivery_id: deliveryId, to: '+5511987654321', code_sealed: 'v1.aXY.Ym9keQ.dGFn', locale: 'pt-BR', ttl_s: 300, brand: 'Acme' });

const dialects = storeDialects('outbox-wipe');

eachDialect(dialects)('finished outbox messages keep no sealed code ($name)', (dialect) => {
  const opened = useMigratedStore(dialect);
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  const payloadOf = async (id: string): Promise<Record<string, unknown>> => {
    const row = await store.db.selectFrom('outbox').select('payload_json').where('id', '=', id).executeTakeFirstOrThrow();
    return JSON.parse(row.payload_json) as Record<string, unknown>;
  };
  const enqueueLegacy = async (id: string): Promise<void> => {
    await enqueue(store.db, { id, kind: 'message', integration_id: 'int_a', mode: 'test', payload_json: legacyPayload(`del_${id}`), now: 1000 });
  };

  it('drops code_sealed when a message is done or dead, keeps it while it may be retried', async () => {
    for (const id of ['out_done', 'out_dead', 'out_retry']) await enqueueLegacy(id);
    const claimed = await claimDue(store.db, WORKER, 2000, 30_000, 10, store.dialect === 'postgres');
    expect(claimed.map((r) => r.id).sort()).toEqual(['out_dead', 'out_done', 'out_retry']);

    await markDone(store.db, 'out_done', WORKER);
    await release(store.db, 'out_dead', WORKER, { retryAt: null, error: 'gave up' });
    await release(store.db, 'out_retry', WORKER, { retryAt: 5000, error: 'later' });

    const done = await payloadOf('out_done');
    expect(done).not.toHaveProperty('code_sealed');
    expect(done).toMatchObject({ delivery_id: 'del_out_done', to: '+5511987654321', brand: 'Acme' }); // the rest stays
    expect(await payloadOf('out_dead')).not.toHaveProperty('code_sealed');
    expect(await payloadOf('out_retry')).toHaveProperty('code_sealed'); // still pending: an old-shape message needs it
    const statuses = await store.db.selectFrom('outbox').select(['id', 'status']).where('id', 'in', ['out_done', 'out_dead', 'out_retry']).orderBy('id').execute();
    expect(statuses).toEqual([{ id: 'out_dead', status: 'dead' }, { id: 'out_done', status: 'done' }, { id: 'out_retry', status: 'pending' }]);
  });

  it('leaves a current payload as it is', async () => {
    const payload = JSON.stringify({ delivery_id: 'del_new' });
    await enqueue(store.db, { id: 'out_new', kind: 'message', integration_id: 'int_a', mode: 'test', payload_json: payload, now: 1000, claim: { workerId: WORKER, until: 99_999 } });
    await markDone(store.db, 'out_new', WORKER);
    const row = await store.db.selectFrom('outbox').select('payload_json').where('id', '=', 'out_new').executeTakeFirstOrThrow();
    expect(row.payload_json).toBe(payload);
  });
});

describe('the upgrade to migration 009', () => {
  it('drops code_sealed from messages that finished before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otpgate-outbox-upgrade-'));
    const store = openStore(`sqlite:${join(dir, 'otpgate.db')}`);
    try {
      const migrator = new Migrator({ db: store.db, provider: migrationProvider });
      const before = (await migrationProvider.getMigrations()) as Record<string, unknown>;
      const previous = Object.keys(before).sort().filter((name) => name < '009');
      expect((await migrator.migrateTo(previous[previous.length - 1] as string)).error).toBeUndefined();
      for (const [id, status] of [['out_old_done', 'done'], ['out_old_dead', 'dead'], ['out_old_pending', 'pending']] as const) {
        await store.db.insertInto('outbox').values({ id, kind: 'message', integration_id: 'int_a', mode: 'test', payload_json: legacyPayload(`del_${id}`), status, attempts: 1, available_at: 1, locked_until: null, locked_by: null, last_error: null, created_at: 1 }).execute();
      }
      await migrateToLatest(store.db);
      const rows = await store.db.selectFrom('outbox').select(['id', 'payload_json']).orderBy('id').execute();
      const sealed = Object.fromEntries(rows.map((r) => [r.id, 'code_sealed' in (JSON.parse(r.payload_json) as object)]));
      expect(sealed).toEqual({ out_old_dead: false, out_old_done: false, out_old_pending: true });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('file modes of the data directory', () => {
  const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);
  let previousUmask: number;
  const dirs: string[] = [];
  beforeAll(() => {
    previousUmask = process.umask(0o022); // the usual default, under which files are created 0644
  });
  afterAll(() => {
    process.umask(previousUmask);
  });
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the data directory 0700 and the database, its WAL and SHM, and the secret files 0600', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'otpgate-modes-'));
    dirs.push(parent);
    const dataDir = join(parent, 'data');
    const config = loadConfig({ OTPGATE_DATA_DIR: dataDir, OTPGATE_LOG_LEVEL: 'silent' });
    const rt = await createRuntime(config, { logger: pino({ level: 'silent' }), worker: false });
    try {
      // A write after the start (the WAL may be created by the first one).
      await rt.store.db.insertInto('idempotency_keys').values({ scope: 'admin', key: 'k', request_hash: 'h', status: 'in_flight', response_status: null, response_body: null, created_at: 1 }).execute();
      expect(modeOf(dataDir)).toBe('700');
      for (const file of ['otpgate.db', 'otpgate.db-wal', 'otpgate.db-shm', 'admin-token', 'server-secret']) {
        expect([file, modeOf(join(dataDir, file))]).toEqual([file, '600']);
      }
    } finally {
      await rt.close();
    }
  });

  it('tightens the files an older version left readable to others', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otpgate-modes-old-'));
    dirs.push(dataDir);
    const file = join(dataDir, 'otpgate.db');
    closeSync(openSync(file, 'w', 0o644));
    writeFileSync(join(dataDir, 'server-secret'), `${'s'.repeat(43)}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    const config = loadConfig({ OTPGATE_DATA_DIR: dataDir, OTPGATE_ADMIN_TOKEN: 'a'.repeat(32), OTPGATE_LOG_LEVEL: 'silent' });
    const rt = await createRuntime(config, { logger: pino({ level: 'silent' }), worker: false });
    try {
      await rt.store.db.insertInto('idempotency_keys').values({ scope: 'admin', key: 'k', request_hash: 'h', status: 'in_flight', response_status: null, response_body: null, created_at: 1 }).execute();
      for (const name of ['otpgate.db', 'otpgate.db-wal', 'otpgate.db-shm', 'server-secret']) {
        expect([name, modeOf(join(dataDir, name))]).toEqual([name, '600']);
      }
    } finally {
      await rt.close();
    }
  });
});
