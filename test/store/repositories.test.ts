import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { claimKey, completeKey } from '../../src/store/idempotency-repo.js';
import { claimDue, claimDueQuery, enqueue } from '../../src/store/outbox-repo.js';
import { captureMessage } from '../../src/store/sandbox-messages-repo.js';
import { cryptoRandom } from '../../src/domain/clock.js';
import { newId } from '../../src/domain/ids.js';
import { purgeExpired } from '../../src/store/housekeeping.js';
import { deliveryIdFor } from '../../src/store/webhooks-repo.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/database.js';
import { migrations } from '../../src/store/migrations/index.js';
import { insertDelivery, type DeliveryRow } from '../../src/store/deliveries-repo.js';
import {
  expireDueQuery,
  findLatestWithDeliveries,
  findLatestWithDeliveriesBatched,
  findVerification,
  findVerificationForEvent,
  insertVerification,
  recordWrongCode,
  transitionFromPendingReturning,
  type VerificationRow,
} from '../../src/store/verifications-repo.js';
import { eachDialect, storeDialects } from '../helpers/stores.js';

/** The storage layer, looped over every dialect available (as Kysely loops its own). */
const dialects = storeDialects('store');

const scope = { integrationId: 'int_a', mode: 'test' as const };

function verification(id: string, over: Partial<VerificationRow> = {}): VerificationRow {
  return {
    id, integration_id: 'int_a', mode: 'test', identifier: '+5511987654321', identifier_kind: 'phone', country: 'BR', channel: 'sms',
    action: 'sign_in', locale: null, status: 'pending', failure_reason: null, code_hash: 'h', code_sealed: 's', code_length: 6,
    attempts: 0, max_attempts: 3, sends: 1, expires_at: 2_000_000_000_000, last_sent_at: 1, created_at: 1, updated_at: 1, identity_id: null, destination: null, ...over,
  };
}

eachDialect(dialects)('store on $name', ({ name, open }) => {
  let store: Store;
  let db: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    db = await open();
    store = openStore(db.url);
    expect(await migrateToLatest(store.db)).toEqual(Object.keys(migrations).sort());
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
  });

  it('migrates idempotently, and `otpgate migrate` agrees', async () => {
    expect(await migrateToLatest(store.db)).toEqual([]);
    const out = execFileSync('node', ['dist/cli/index.js', 'migrate'], { env: { ...process.env, OTPGATE_DATABASE_URL: db.url }, encoding: 'utf8' });
    expect(out).toContain('schema is up to date');
  });

  it('keeps epoch-millisecond times as numbers', async () => {
    await insertVerification(store.db, verification('ver_time', { identifier: '+5511900000001', created_at: 1_790_000_000_123, expires_at: 1_790_000_600_123 }));
    const row = await findVerification(store.db, scope, 'ver_time');
    expect(row?.created_at).toBe(1_790_000_000_123);
    const latest = await findLatestWithDeliveries(store.db, scope, '+5511900000001');
    expect(latest?.expires_at).toBe(1_790_000_600_123);
    expect(typeof latest?.last_sent_at).toBe('number');
  });

  it('reads what an event presents in one query: the verification, its policy and its deliveries, oldest first, each whole', async () => {
    await store.db.insertInto('integrations').values({ id: 'int_a', name: 'A', trust_level: 'strict', policy_json: '{"code":{"length":8}}', created_at: 1, updated_at: 1, deleted_at: null }).execute();
    await insertVerification(store.db, verification('ver_event', { identifier: '+5511900000009', status: 'approved' }));
    const alone = await findVerificationForEvent(store.db, 'ver_event');
    expect(alone?.deliveries).toEqual([]); // none yet: the left join's empty side is not a delivery
    expect(alone?.verification).toMatchObject({ id: 'ver_event', status: 'approved', trust_level: 'strict', policy_json: '{"code":{"length":8}}', created_at: 1 });
    expect(Object.keys(alone?.verification ?? {}).some((key) => key.startsWith('d_'))).toBe(false);
    const delivery = (id: string, createdAt: number, over: Partial<DeliveryRow> = {}): DeliveryRow => ({
      id, verification_id: 'ver_event', channel: 'sms', status: 'queued', error: null, created_at: createdAt, updated_at: createdAt, provider: null,
      provider_message_id: null, error_code: null, message_json: null, sent_at: null, delivered_at: null, failed_at: null, fell_back_at: null, ...over,
    });
    const later = delivery('dlv_b', 20, { channel: 'email', status: 'delivered', provider: 'smtp', provider_message_id: 'm-1', delivered_at: 25, message_json: '{"to":"x"}' });
    const earlier = delivery('dlv_a', 10, { status: 'failed', error: 'boom', error_code: 'e1', failed_at: 12, fell_back_at: 13 });
    await insertDelivery(store.db, later);
    await insertDelivery(store.db, earlier);
    await insertDelivery(store.db, { ...delivery('dlv_other', 5), verification_id: 'ver_time' }); // another verification's
    const found = await findVerificationForEvent(store.db, 'ver_event');
    expect(found?.deliveries).toEqual([earlier, later]);
    expect(found?.verification.id).toBe('ver_event');
    expect(await findVerificationForEvent(store.db, 'ver_missing')).toBeUndefined();
  });

  // Postgres only (the embedded store reads each check's verification on its own, in microseconds).
  if (name === 'postgres') it('reads the latest verifications of the checks of one turn in one statement, each as findLatestWithDeliveries reads it alone', async () => {
    const phone = (n: number): string => `+55119100000${String(n).padStart(2, '0')}`;
    await insertVerification(store.db, verification('ver_batch_old', { identifier: phone(1), created_at: 100, status: 'canceled' }));
    await insertVerification(store.db, verification('ver_batch_new', { identifier: phone(1), created_at: 200, attempts: 2 }));
    await insertVerification(store.db, verification('ver_batch_two', { identifier: phone(2), created_at: 150 }));
    await insertVerification(store.db, verification('ver_batch_live', { identifier: phone(2), mode: 'live', created_at: 300 }));
    await insertVerification(store.db, verification('ver_batch_other', { identifier: phone(2), integration_id: 'int_other', created_at: 400 }));
    await insertDelivery(store.db, { id: 'dlv_batch_2', verification_id: 'ver_batch_new', channel: 'sms', status: 'delivered', error: null, created_at: 210, updated_at: 220, provider: 'sandbox', provider_message_id: 'm', error_code: null, message_json: null, sent_at: 215, delivered_at: 220, failed_at: null, fell_back_at: null });
    await insertDelivery(store.db, { id: 'dlv_batch_1', verification_id: 'ver_batch_new', channel: 'whatsapp', status: 'failed', error: 'x', created_at: 205, updated_at: 206, provider: null, provider_message_id: null, error_code: 'e', message_json: null, sent_at: null, delivered_at: null, failed_at: 206, fell_back_at: 206 });
    const live = { integrationId: 'int_a', mode: 'live' as const };
    // Asked in one turn (duplicates, an identifier with none, another mode; another integration's is not seen): one statement.
    const asked: Array<[{ integrationId: string; mode: 'test' | 'live' }, string]> = [[scope, phone(1)], [scope, phone(2)], [scope, '+55 11 91000-0099'], [live, phone(2)], [scope, phone(2)], [scope, phone(1)]];
    const statements: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const config = args[0] as string | { text?: string };
      statements.push(typeof config === 'string' ? config : (config.text ?? ''));
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    let batched: Awaited<ReturnType<typeof findLatestWithDeliveriesBatched>>[];
    try {
      batched = await Promise.all(asked.map(([where, identifier]) => findLatestWithDeliveriesBatched(store.db, where, identifier)));
    } finally {
      pg.Client.prototype.query = original;
    }
    expect(statements.filter((text) => text.includes('verifications')), statements.join('\n')).toHaveLength(1);
    expect(batched.map((row) => row?.id)).toEqual(['ver_batch_new', 'ver_batch_two', undefined, 'ver_batch_live', 'ver_batch_two', 'ver_batch_new']);
    const alone = await Promise.all(asked.map(async ([where, identifier]) => findLatestWithDeliveries(store.db, where, identifier)));
    expect(batched).toEqual(alone);
    expect(batched[0]?.deliveries.map((d) => d.id)).toEqual(['dlv_batch_1', 'dlv_batch_2']);
    expect(batched[0]).toMatchObject({ attempts: 2, created_at: 200, code_sealed: null });
    // A turn whose last (or only) identifier has none answers undefined for it.
    expect(await Promise.all([findLatestWithDeliveriesBatched(store.db, scope, phone(2)), findLatestWithDeliveriesBatched(store.db, scope, phone(98))]).then((rows) => rows.map((row) => row?.id))).toEqual(['ver_batch_two', undefined]);
    expect(await findLatestWithDeliveriesBatched(store.db, scope, phone(99))).toBeUndefined();
  });

  it('counts concurrent wrong codes once each and never past max_attempts', async () => {
    await insertVerification(store.db, verification('ver_race', { identifier: '+5511900000002' }));
    const results = await Promise.all(Array.from({ length: 10 }, () => recordWrongCode(store.db, 'ver_race', 5, false)));
    const counted = results.filter((r) => r !== undefined);
    expect(counted.map((r) => r?.attempts).sort()).toEqual([1, 2, 3]);
    expect(counted.find((r) => r?.attempts === 3)?.status).toBe('failed');
    const row = await findVerification(store.db, scope, 'ver_race');
    expect(row).toMatchObject({ status: 'failed', attempts: 3, failure_reason: 'max_attempts_reached', code_sealed: null });
  });

  it('moves a verification out of pending once among concurrent writers, and returns the row as that write left it', async () => {
    await insertVerification(store.db, verification('ver_move', { identifier: '+5511900000003', attempts: 2, sends: 2, identity_id: 'idn_1', destination: '+5511900000003' }));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => transitionFromPendingReturning(store.db, 'ver_move', { status: 'approved', failure_reason: null, now: 500 + i })));
    const moved = results.filter((row) => row !== undefined);
    expect(moved).toHaveLength(1);
    const stored = await findVerification(store.db, scope, 'ver_move');
    expect(moved[0]).toEqual(stored);
    expect(moved[0]).toMatchObject({ status: 'approved', failure_reason: null, code_sealed: null, attempts: 2, sends: 2, identity_id: 'idn_1', code_hash: 'h' });
    expect(moved[0]?.updated_at).toBeGreaterThanOrEqual(500);
    // Inside a caller's transaction too; one that finds it no longer pending changes nothing.
    await insertVerification(store.db, verification('ver_move2', { identifier: '+5511900000004' }));
    const inside = await store.db.transaction().execute(async (trx) => [
      await transitionFromPendingReturning(trx, 'ver_move2', { status: 'canceled', failure_reason: 'canceled', now: 600 }),
      await transitionFromPendingReturning(trx, 'ver_move2', { status: 'expired', failure_reason: 'expired', now: 601 }),
    ]);
    expect(inside[0]).toMatchObject({ id: 'ver_move2', status: 'canceled', failure_reason: 'canceled', updated_at: 600 });
    expect(inside[1]).toBeUndefined();
    expect(await findVerification(store.db, scope, 'ver_move2')).toMatchObject({ status: 'canceled', updated_at: 600 });
  });

  it('hands each outbox message to exactly one of several concurrent claimers', async () => {
    for (let i = 0; i < 40; i++) await enqueue(store.db, { id: `obx_${name}_${i}`, kind: 'message', integration_id: 'int_a', mode: 'test', payload_json: '{}', now: 1 });
    const claims = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((w) => claimDue(store.db, w, 10, 5000, 15, store.dialect === 'postgres')));
    const ids = claims.flat().map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(40);
    expect(await claimDue(store.db, 'w5', 10, 5000, 50, store.dialect === 'postgres')).toEqual([]);
    expect((await claimDue(store.db, 'w5', 5011, 5000, 50, store.dialect === 'postgres')).length).toBe(40); // leases lapsed
  });

  it('lets one of many concurrent requests claim an idempotency key', async () => {
    const row = { scope: 's', key: `k-${name}`, request_hash: 'h', now: 100, lease_until: 1100 };
    const results = await Promise.all(Array.from({ length: 8 }, () => claimKey(store.db, row, 0)));
    expect(results.filter((r) => r === null)).toHaveLength(1);
    await completeKey(store.db, { scope: 's', key: row.key, leaseUntil: row.lease_until }, 201, '{"ok":true}');
    expect(await claimKey(store.db, row, 0)).toMatchObject({ status: 'done', response_status: 201, response_body: '{"ok":true}' });
    expect(await claimKey(store.db, { ...row, now: 200 }, 150)).toBeNull(); // expired: forgotten, claimed anew
  });

  it('captures a sandbox message once per source', async () => {
    const message = { id: 'msg_1', integration_id: 'int_a', mode: 'test' as const, to_address: 'a@b.co', channel: 'email', subject: 's', body: 'b', code: '1234', verification_id: null, source_id: `obx_src_${name}`, received_at: 1 };
    await captureMessage(store.db, message);
    await captureMessage(store.db, { ...message, id: 'msg_2' });
    const rows = await store.db.selectFrom('sandbox_messages').selectAll().where('source_id', '=', message.source_id).execute();
    expect(rows.map((r) => r.id)).toEqual(['msg_1']);
  });

  it('finds the latest of thousands of verifications of one identifier without sorting them all', async () => {
    const identifier = '+5511900000777';
    await store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 3000; i++) await insertVerification(trx, verification(`ver_many_${String(i).padStart(5, '0')}`, { identifier, status: 'expired', created_at: 1_000 + Math.floor(i / 3) }));
    });
    const latest = await findLatestWithDeliveries(store.db, scope, identifier);
    expect(latest?.id).toBe('ver_many_02999'); // newest time, and the largest id among equal times
    if (store.sqlite) {
      const plan = store.sqlite
        .prepare('explain query plan select * from "verifications" where "integration_id" = ? and "mode" = ? and "canonical_identifier" = ? order by "created_at" desc, "id" desc limit 1')
        .all('int_a', 'test', identifier) as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' | ')).not.toContain('TEMP B-TREE');
    }
  });

  it('claims from a large backlog by primary key, not by walking every pending message', async () => {
    await store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 2000; i++) await enqueue(trx, { id: `obx_backlog_${String(i).padStart(5, '0')}`, kind: 'message', integration_id: 'int_backlog', mode: 'test', payload_json: '{}', now: 50 });
    });
    const claimed = await claimDue(store.db, 'w_backlog', 60, 5000, 10, store.dialect === 'postgres');
    expect(claimed).toHaveLength(10);
    expect(claimed.every((row) => row.locked_by === 'w_backlog' && row.status === 'pending')).toBe(true);
    if (store.sqlite) {
      const { sql, parameters } = claimDueQuery(store.db, 'w', 60, 5000, 10, false).compile();
      const plan = (store.sqlite.prepare(`explain query plan ${sql}`).all(...parameters) as { detail: string }[]).map((p) => p.detail);
      // The outer UPDATE finds each claimed id through the primary key (not through the status index).
      expect(plan[0]).toMatch(/USING (COVERING )?INDEX sqlite_autoindex_outbox_1 \(id=\?\)/);
    }
  });

  it("the expiry sweep reads the pending verifications' expiry index; a look by identifier reads the pending index (migration 017)", async () => {
    if (!store.sqlite) return; // Postgres: test/store/pg-fresh-table-plans.test.ts
    const plan = (sql: string, ...args: unknown[]) => (store.sqlite!.prepare(`explain query plan ${sql}`).all(...args) as { detail: string }[]).map((p) => p.detail).join(' | ');
    const sweep = expireDueQuery(store.db, 1_000, 100, false).compile();
    expect(plan(sweep.sql, ...sweep.parameters)).toContain('verifications_pending_expiry_idx (expires_at<?)');
    const look = `select "id" from "verifications" where "integration_id" = ? and "mode" = ? and "canonical_identifier" = ? and "status" = 'pending' limit 1`;
    expect(plan(look, 'int_a', 'test', '+5511900000777')).toContain('verifications_pending_idx (integration_id=? AND mode=? AND canonical_identifier=?)');
  });

  it('housekeeping purges idempotency keys after 24 h and finished outbox messages after 7 days, nothing else', async () => {
    const day = 86_400_000;
    const now = 100 * day;
    await claimKey(store.db, { scope: 'hk', key: 'old', request_hash: 'h', now: now - day - 1, lease_until: now - day }, 0);
    await claimKey(store.db, { scope: 'hk', key: 'new', request_hash: 'h', now: now - 1000, lease_until: now }, 0);
    for (const [id, status, age] of [['obx_hk_old_done', 'done', 8], ['obx_hk_new_done', 'done', 1], ['obx_hk_old_pending', 'pending', 8]] as const) {
      await enqueue(store.db, { id, kind: 'message', integration_id: 'int_hk', mode: 'test', payload_json: '{}', now: now - age * day });
      if (status === 'done') await store.db.updateTable('outbox').set({ status }).where('id', '=', id).execute();
    }
    await purgeExpired(store.db, now);
    const keys = await store.db.selectFrom('idempotency_keys').select('key').where('scope', '=', 'hk').execute();
    expect(keys.map((k) => k.key)).toEqual(['new']);
    const outbox = await store.db.selectFrom('outbox').select('id').where('integration_id', '=', 'int_hk').orderBy('id').execute();
    expect(outbox.map((o) => o.id)).toEqual(['obx_hk_new_done', 'obx_hk_old_pending']);
  });

  it('housekeeping purges events and finished webhook deliveries after the retention, keeping an event a delivery still waits for', async () => {
    const day = 86_400_000;
    const now = 200 * day;
    // Real ids: they start with their creation time, which the purge reads (and a delivery's id is its event's).
    const eventId = (age: number) => newId('evt', cryptoRandom, now - age * day);
    const ids = { oldFree: eventId(31), oldDone: eventId(31), oldHeld: eventId(40), recent: eventId(2) };
    for (const [id, age] of [[ids.oldFree, 31], [ids.oldDone, 31], [ids.oldHeld, 40], [ids.recent, 2]] as const) {
      await store.db.insertInto('events').values({ id, integration_id: 'int_hk', mode: 'test', type: 'verification.created', data_json: '{}', created_at: now - age * day }).execute();
    }
    await store.db
      .insertInto('webhook_endpoints')
      .values({ id: 'whe_hk', integration_id: 'int_hk', mode: 'test', url: 'https://example.com/hook', events_json: '*', is_active: 0, disabled_reason: null, secret_sealed: 'x', previous_secret_sealed: null, previous_secret_until: null, created_at: now, updated_at: now })
      .execute();
    const delivery = (eventId: string, status: string, updatedDaysAgo: number) => ({
      id: deliveryIdFor(eventId), event_id: eventId, endpoint_id: 'whe_hk', integration_id: 'int_hk', mode: 'test' as const, event_type: 'verification.created', status, attempts: 1,
      next_attempt_at: null, created_at: now - updatedDaysAgo * day, updated_at: now - updatedDaysAgo * day,
    });
    await store.db.insertInto('webhook_deliveries').values([delivery(ids.oldDone, 'succeeded', 31), delivery(ids.oldHeld, 'held', 40), delivery(ids.recent, 'failed', 2)]).execute();

    await purgeExpired(store.db, now);

    const left = await store.db.selectFrom('events').select('id').where('integration_id', '=', 'int_hk').orderBy('id').execute();
    expect(left.map((e) => e.id)).toEqual([ids.oldHeld, ids.recent]);
    const deliveries = await store.db.selectFrom('webhook_deliveries').select('id').where('integration_id', '=', 'int_hk').orderBy('id').execute();
    expect(deliveries.map((d) => d.id)).toEqual([deliveryIdFor(ids.oldHeld), deliveryIdFor(ids.recent)]);
    await purgeExpired(store.db, now, 1); // a shorter retention reaches the newer finished ones too
    expect((await store.db.selectFrom('webhook_deliveries').select('id').where('integration_id', '=', 'int_hk').execute()).map((d) => d.id)).toEqual([deliveryIdFor(ids.oldHeld)]);
  });

  it('housekeeping purges captured messages and closed sandbox inboxes (with their messages) after the retention, not open ones', async () => {
    const day = 86_400_000;
    const now = 300 * day;
    const at = (age: number) => now - age * day;
    const inbox = (status: string, age: number) => {
      const id = newId('inb', cryptoRandom, at(age));
      const open = status === 'waiting';
      return {
        id, integration_id: 'int_hk2', mode: 'test' as const, kind: 'email', address: `${id}@sandbox.otpgate.test`, open_address: open ? `${id}@sandbox.otpgate.test` : null,
        source: 'generated', country: null, regex: null, status, expires_at: at(age) + 1_200_000, otp_count: 1, last_code: '123456', pool_number: null, created_at: at(age), updated_at: at(age),
      };
    };
    const oldClosed = inbox('finished', 31);
    const oldOpen = inbox('waiting', 31);
    const recentClosed = inbox('expired', 2);
    await store.db.insertInto('sandbox_inboxes').values([oldClosed, oldOpen, recentClosed]).execute();
    const message = (inboxId: string, age: number) => ({
      id: newId('msg', cryptoRandom, at(age)), inbox_id: inboxId, seq: 1, channel: 'email', from_address: 'app@example.com', subject: 'Code', text: 'code 123456', code: '123456', source_id: `src-${inboxId}`, received_at: at(age),
    });
    await store.db.insertInto('sandbox_inbox_messages').values([message(oldClosed.id, 31), message(oldOpen.id, 31), message(recentClosed.id, 2)]).execute();
    const captured = (age: number) => ({
      id: newId('msg', cryptoRandom, at(age)), integration_id: 'int_hk2', mode: 'test' as const, to_address: '+15550100', channel: 'sms', subject: null, body: 'code 1234', code: '1234', verification_id: null, source_id: null, received_at: at(age),
    });
    const oldCapture = captured(31);
    const recentCapture = captured(2);
    await store.db.insertInto('sandbox_messages').values([oldCapture, recentCapture]).execute();

    await purgeExpired(store.db, now);

    const inboxes = await store.db.selectFrom('sandbox_inboxes').select('id').where('integration_id', '=', 'int_hk2').orderBy('id').execute();
    expect(inboxes.map((i) => i.id)).toEqual([oldOpen.id, recentClosed.id].sort());
    const messages = await store.db.selectFrom('sandbox_inbox_messages').select('inbox_id').where('inbox_id', 'in', [oldClosed.id, oldOpen.id, recentClosed.id]).execute();
    expect(messages.map((m) => m.inbox_id).sort()).toEqual([oldOpen.id, recentClosed.id].sort());
    const captures = await store.db.selectFrom('sandbox_messages').select('id').where('integration_id', '=', 'int_hk2').execute();
    expect(captures.map((c) => c.id)).toEqual([recentCapture.id]);
  });
});
