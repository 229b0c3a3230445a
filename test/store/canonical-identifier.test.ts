import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { cancelPendingFor, findLatestWithDeliveries, findVerification, insertVerification, type VerificationRow } from '../../src/store/verifications-repo.js';

const scope = { integrationId: 'int_c', mode: 'test' as const };

function verification(id: string, over: Partial<VerificationRow> = {}): VerificationRow {
  return {
    id, integration_id: 'int_c', mode: 'test', identifier: 'someone@example.com', identifier_kind: 'email', country: null, channel: 'email',
    action: 'sign_in', locale: null, status: 'pending', failure_reason: null, code_hash: 'h', code_sealed: 's', code_length: 6,
    attempts: 0, max_attempts: 3, sends: 1, expires_at: 2_000_000_000_000, last_sent_at: 1, created_at: 1, updated_at: 1, identity_id: null, destination: null, ...over,
  };
}

describe('verifications by canonical identifier (migration 008, SQLite)', () => {
  let store: Store;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-canonical-'));
    store = openStore(`sqlite:${join(dir, 'otpgate.db')}`);
    // Rows written before the migration, then migrated: the column is backfilled.
    const migrator = new Migrator({ db: store.db, provider: migrationProvider });
    const { error } = await migrator.migrateTo('007-live-delivery');
    expect(error).toBeUndefined();
    const old = (over: Partial<VerificationRow>) => ({ ...verification('x'), ...over });
    await store.db.insertInto('verifications').values([
      old({ id: 'ver_old_1', identifier: 'Old+tag@example.com' }),
      old({ id: 'ver_old_2', identifier: '+5511987654321', identifier_kind: 'phone', channel: 'sms' }),
      old({ id: 'ver_old_3', identifier: 'plain@example.com' }),
    ] as never).execute();
    expect(await migrateToLatest(store.db)).toContain('008-canonical-identifier');
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backfills existing rows with their canonical key', async () => {
    const rows = await store.db.selectFrom('verifications').select(['id', 'canonical_identifier']).where('id', 'like', 'ver_old_%').orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'ver_old_1', canonical_identifier: 'old@example.com' },
      { id: 'ver_old_2', canonical_identifier: '+5511987654321' },
      { id: 'ver_old_3', canonical_identifier: 'plain@example.com' },
    ]);
    expect((await findLatestWithDeliveries(store.db, scope, 'OLD@example.com'))?.id).toBe('ver_old_1');
  });

  it('keeps the identifier as given, and finds and supersedes it under any spelling', async () => {
    await insertVerification(store.db, verification('ver_new_1', { identifier: 'Victim+x@example.com', created_at: 10 }));
    expect(await findVerification(store.db, scope, 'ver_new_1')).toMatchObject({ identifier: 'Victim+x@example.com', canonical_identifier: 'victim@example.com' });
    expect((await findLatestWithDeliveries(store.db, scope, 'VICTIM@example.com'))?.id).toBe('ver_new_1');
    await cancelPendingFor(store.db, scope, 'victim+other@example.com', 20);
    expect(await findVerification(store.db, scope, 'ver_new_1')).toMatchObject({ status: 'canceled', failure_reason: 'superseded' });
  });

  it('looks up the latest and the pending verification through the canonical indexes, without sorting', async () => {
    await store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 500; i++) {
        await insertVerification(trx, verification(`ver_many_${String(i).padStart(4, '0')}`, { identifier: i % 2 ? 'Many@example.com' : 'many+t@example.com', status: 'expired', created_at: 1_000 + i }));
      }
    });
    expect((await findLatestWithDeliveries(store.db, scope, 'MANY@example.com'))?.id).toBe('ver_many_0499');
    const sqlite = store.sqlite;
    if (!sqlite) throw new Error('expected the embedded store');
    const plan = (query: string) => (sqlite.prepare(`explain query plan ${query}`).all('int_c', 'test', 'many@example.com') as { detail: string }[]).map((p) => p.detail).join(' | ');
    const latest = plan('select * from "verifications" where "integration_id" = ? and "mode" = ? and "canonical_identifier" = ? order by "created_at" desc, "id" desc limit 1');
    expect(latest).toContain('verifications_latest_idx');
    expect(latest).not.toContain('TEMP B-TREE');
    expect(plan(`select id from "verifications" where "integration_id" = ? and "mode" = ? and "canonical_identifier" = ? and "status" = 'pending'`)).toContain('verifications_pending_idx');
  });
});
