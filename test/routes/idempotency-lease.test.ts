import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/domain/clock.js';
import { ProblemError } from '../../src/domain/errors.js';
import { claimKey, completeKey, recordResource, releaseKey, takeOverKey, IDEMPOTENT_RESOURCE } from '../../src/store/idempotency-repo.js';
import type { Store } from '../../src/store/database.js';
import { preparedTransaction } from '../../src/store/prepared.js';
import { insertVerification } from '../../src/store/verifications-repo.js';
import { api, createIntegration, latestCode, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { resettableClock } from '../helpers/clock.js';
import { eachDialect, storeDialects, useMigratedStore } from '../helpers/stores.js';
import { admin, expectJson, expectProblem, phone, type CheckBody, type IssuedKey, type VerificationBody } from './support.js';

const SEND = '/v1/verifications';
const LEASE_MS = 5_000;
const SHOWN_ONCE = '[shown once]';

/**
 * What a process killed in the middle of a keyed request leaves behind, and what a retry then gets.
 * The two states a SIGKILL can leave are reproduced exactly:
 * - the claim committed, the operation not (killed before its transaction committed): a claim row in
 *   flight with no resource, written by claimKey as the plugin writes it;
 * - the operation committed with its resource recorded on the claim, the answer never stored (killed
 *   between the commit and onSend): a real request's row, its stored answer taken away again.
 * The black-box version, with a real SIGKILL, is test/e2e/idempotency-crash.test.ts.
 */
describe('Idempotency-Key leases: a claim left behind by a crash', () => {
  // Each test moves its own clock (fresh in beforeEach); what the runtime keeps that depends on time
  // (claims, limits) belongs to each test's own integrations and keys.
  const time = resettableClock(Date.UTC(2026, 6, 1));
  let clock: ManualClock;
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startRuntime({ clock: time.clock, env: { OTPGATE_IDEMPOTENCY_LEASE_MS: String(LEASE_MS) } });
  });
  beforeEach(() => {
    clock = time.fresh();
  });
  afterAll(async () => {
    await rt.dispose();
  });

  const row = (scope: string, key: string) => rt.store.db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key).executeTakeFirstOrThrow();
  const verificationsOf = async (integration: TestIntegration, identifier: string) =>
    rt.store.db.selectFrom('verifications').select('id').where('integration_id', '=', integration.id).where('identifier', '=', identifier).execute();

  /** The claim a request for `body` on POST /v1/verifications leaves when killed before its transaction commits. */
  async function crashedBeforeCommit(integration: TestIntegration, key: string, body: object): Promise<void> {
    // The request hash of this body, from a keyed request of another integration (keys are scoped, hashes are not).
    const probe = await createIntegration(rt.app);
    const probeKey = `probe-${key}`;
    expectJson(await api(rt.app, probe.testKey).post(SEND, body, { 'idempotency-key': probeKey }), 201);
    const { request_hash } = await row(`${probe.id}:test`, probeKey);
    const now = clock.now();
    expect(await claimKey(rt.store.db, { scope: `${integration.id}:test`, key, request_hash, now, lease_until: now + LEASE_MS }, now - 86_400_000)).toBeNull();
  }

  /** A real request (of the integration, or of the operator) whose process is then killed between its commit and the stored answer. */
  async function crashedAfterCommit(integration: TestIntegration | null, key: string, url: string, body: object) {
    const headers = { 'idempotency-key': key };
    const first = integration ? await api(rt.app, integration.testKey).post(url, body, headers) : await admin(rt.app).post(url, body, headers);
    const stored = await row(integration ? `${integration.id}:test` : 'admin', key);
    await rt.store.db
      .updateTable('idempotency_keys')
      .set({ status: 'in_flight', response_status: null, response_body: null })
      .where('scope', '=', stored.scope)
      .where('key', '=', key)
      .execute();
    return { first, stored };
  }

  it('takes a lapsed claim over: the retry runs the request once, after 409s while the lease holds', async () => {
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'lapsed-1' };
    await crashedBeforeCommit(integration, 'lapsed-1', { identifier: to });

    // Still leased: it may be running elsewhere.
    expectProblem(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers), 409, 'idempotency-conflict');
    clock.advance(LEASE_MS - 1);
    expectProblem(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers), 409, 'idempotency-conflict');
    clock.advance(1);

    const retried = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    const created = expectJson<VerificationBody>(retried, 201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await verificationsOf(integration, to)).toEqual([{ id: created.id }]);
    // From now on the key replays that answer.
    const replay = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(retried.json());
    // Another body is still refused under that key, lapsed or not.
    expectProblem(await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }, headers), 422, 'idempotency-key-reused');
  });

  it('counts the lease of a claim made before leases (no lease_until) from its creation', async () => {
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'legacy-claim' };
    await crashedBeforeCommit(integration, 'legacy-claim', { identifier: to });
    await rt.store.db.updateTable('idempotency_keys').set({ lease_until: null }).where('scope', '=', `${integration.id}:test`).where('key', '=', 'legacy-claim').execute();
    clock.advance(LEASE_MS - 1);
    expectProblem(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers), 409, 'idempotency-conflict');
    clock.advance(1);
    const retried = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expect(await verificationsOf(integration, to)).toEqual([{ id: expectJson<VerificationBody>(retried, 201).id }]);
  });

  it('lets exactly one of many concurrent retries take a lapsed claim over', async () => {
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 100 } } });
    const to = phone();
    const headers = { 'idempotency-key': 'lapsed-race' };
    await crashedBeforeCommit(integration, 'lapsed-race', { identifier: to });
    clock.advance(LEASE_MS);

    const responses = await Promise.all(Array.from({ length: 12 }, () => api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers)));
    const fresh = responses.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined);
    expect(fresh).toHaveLength(1);
    const id = (fresh[0]?.json() as VerificationBody).id;
    for (const other of responses.filter((r) => r !== fresh[0])) {
      if (other.statusCode === 409) expectProblem(other, 409, 'idempotency-conflict');
      else expect([other.statusCode, other.headers['idempotent-replayed'], (other.json() as VerificationBody).id]).toEqual([201, 'true', id]);
    }
    expect(await verificationsOf(integration, to)).toEqual([{ id }]);
    expect(await rt.worker.drain()).toBeGreaterThanOrEqual(1);
  });

  it('answers a retry with the verification its crashed request committed, at once and without running it again', async () => {
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'committed-1' };
    const { first, stored } = await crashedAfterCommit(integration, 'committed-1', SEND, { identifier: to });
    const created = expectJson<VerificationBody>(first, 201);
    // Written by the request's own transaction.
    expect(stored).toMatchObject({ resource_kind: 'verification', resource_id: created.id });

    // Within the lease: no 409, the operation is known to have run.
    const retried = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expect(retried.statusCode).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    const view = expectJson<VerificationBody>(await api(rt.app, integration.testKey).get(`${SEND}/${created.id}`), 200);
    expect(retried.json()).toEqual(view); // the verification as GET shows it
    expect(await verificationsOf(integration, to)).toEqual([{ id: created.id }]);

    // Long after the lease too, and that answer is now the key's stored one.
    clock.advance(LEASE_MS * 10);
    const again = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expect([again.statusCode, again.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(again.body).toBe(retried.body);
    expect(await row(`${integration.id}:test`, 'committed-1')).toMatchObject({ status: 'done', response_status: 201 });
    expect(await verificationsOf(integration, to)).toEqual([{ id: created.id }]);
  });

  it('answers a retry of a crashed inbox create with the inbox it opened: no second inbox, no second charge', async () => {
    const integration = await createIntegration(rt.app, { policy: { billing: { enabled: true } } });
    expectJson(await admin(rt.app).post(`/admin/v1/integrations/${integration.id}/topups`, { amount: '1.0000' }), 201);
    const { first, stored } = await crashedAfterCommit(integration, 'inbox-1', '/v1/sandbox/inboxes', { kind: 'email' });
    const created = expectJson<{ id: string; address: string }>(first, 201);
    expect(stored).toMatchObject({ resource_kind: 'inbox', resource_id: created.id });

    const retried = await api(rt.app, integration.testKey).post('/v1/sandbox/inboxes', { kind: 'email' }, { 'idempotency-key': 'inbox-1' });
    expect([retried.statusCode, retried.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(retried.json()).toMatchObject({ id: created.id, address: created.address, status: 'waiting' });
    const inboxes = await rt.store.db.selectFrom('sandbox_inboxes').select('id').where('integration_id', '=', integration.id).execute();
    expect(inboxes).toEqual([{ id: created.id }]);
    const balance = expectJson<{ balance: string }>(await api(rt.app, integration.testKey).get('/v1/balance'), 200);
    expect(balance.balance).toBe('0.9900'); // one rental (inbox_email 0.0100), charged once
  });

  it('answers a retry of a crashed approved check with the approval, its credentials shown once', async () => {
    const integration = await createIntegration(rt.app, { policy: { access_token: { enabled: true } } });
    const to = phone();
    const v = expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(SEND, { identifier: to }), 201);
    const body = { verification_id: v.id, code: await latestCode(rt, integration.testKey, to) };
    const { first, stored } = await crashedAfterCommit(integration, 'check-1', `${SEND}/check`, body);
    const approved = expectJson<CheckBody & { access_token: string; scope: string; token_type: string }>(first, 200);
    expect(stored).toMatchObject({ resource_kind: 'session' });

    const retried = await api(rt.app, integration.testKey).post(`${SEND}/check`, body, { 'idempotency-key': 'check-1' });
    expect(retried.statusCode).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual({ ...approved, otp_session: SHOWN_ONCE, access_token: SHOWN_ONCE });
    expect(retried.body).not.toContain(approved.otp_session);
    expect(await rt.store.db.selectFrom('sessions').select('id').where('verification_id', '=', v.id).execute()).toHaveLength(1);
  });

  it('answers a retry of a crashed operator create with the integration and key it committed, secrets shown once', async () => {
    const name = `Crashed ${phone()}`;
    const { first, stored } = await crashedAfterCommit(null, 'create-1', '/admin/v1/integrations', { name });
    const created = expectJson<{ id: string; keys: { test: IssuedKey; live: IssuedKey } }>(first, 201);
    expect(stored).toMatchObject({ resource_kind: 'integration', resource_id: created.id });
    const retried = await admin(rt.app).post('/admin/v1/integrations', { name }, { 'idempotency-key': 'create-1' });
    expect([retried.statusCode, retried.headers['idempotent-replayed']]).toEqual([201, 'true']);
    const hidden = { key: SHOWN_ONCE, signing_secret: SHOWN_ONCE };
    expect(retried.json()).toEqual({ ...created, keys: { test: { ...created.keys.test, ...hidden }, live: { ...created.keys.live, ...hidden } } });
    const list = expectJson<{ data: { name: string }[] }>(await admin(rt.app).get('/admin/v1/integrations?limit=100'), 200);
    expect(list.data.filter((i) => i.name === name)).toHaveLength(1);

    const url = `/admin/v1/integrations/${created.id}/keys`;
    const key = await crashedAfterCommit(null, 'key-1', url, { mode: 'live' });
    const issued = expectJson<IssuedKey>(key.first, 201);
    expect(key.stored).toMatchObject({ resource_kind: 'api_key', resource_id: issued.id });
    const again = await admin(rt.app).post(url, { mode: 'live' }, { 'idempotency-key': 'key-1' });
    expect([again.statusCode, again.headers['idempotent-replayed']]).toEqual([201, 'true']);
    expect(again.json()).toEqual({ ...issued, ...hidden });
    const listed = expectJson<{ keys: { id: string; mode: string }[] }>(await admin(rt.app).get(`/admin/v1/integrations/${created.id}`), 200);
    expect(listed.keys.filter((k) => k.mode === 'live')).toHaveLength(2); // the create's, and this one: not a third
  });

  it('keeps 409 for a claim whose request is still running within its lease', async () => {
    const integration = await createIntegration(rt.app);
    const to = phone();
    await crashedBeforeCommit(integration, 'running', { identifier: to });
    clock.advance(LEASE_MS / 2);
    expectProblem(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, { 'idempotency-key': 'running' }), 409, 'idempotency-conflict');
    expect(await verificationsOf(integration, to)).toEqual([]);
  });

  it('adds no statement to a request without an Idempotency-Key', async () => {
    const integration = await createIntegration(rt.app);
    const seen = observeStatements(rt.store);
    try {
      expectJson(await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }), 201);
    } finally {
      seen.stop();
    }
    expect(seen.statements.length).toBeGreaterThan(0);
    expect(seen.statements.filter((source) => source.includes('idempotency_keys'))).toEqual([]);
    // The same observation sees them where there is a key.
    const keyed = observeStatements(rt.store);
    try {
      expectJson(await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }, { 'idempotency-key': 'observed' }), 201);
    } finally {
      keyed.stop();
    }
    expect(keyed.statements.filter((source) => source.includes('idempotency_keys')).length).toBeGreaterThanOrEqual(3);
  });
});

const dialects = storeDialects('idem');

eachDialect(dialects)('idempotency claims on $name', (dialect) => {
  const opened = useMigratedStore(dialect);
  let store: Store;
  let n = 0;
  let key: string;
  beforeAll(() => {
    store = opened();
  });
  beforeEach(() => {
    key = `k${++n}`;
  });
  afterEach(async () => {
    await store.db.deleteFrom('verifications').execute();
  });

  const claim = (lease: number) => claimKey(store.db, { scope: 's', key, request_hash: 'h', now: 100, lease_until: lease }, 0);
  const read = () => store.db.selectFrom('idempotency_keys').selectAll().where('scope', '=', 's').where('key', '=', key).executeTakeFirstOrThrow();

  it('hands a lapsed claim to exactly one of many concurrent takeovers', async () => {
    expect(await claim(1_000)).toBeNull();
    const seen = await read();
    const won = await Promise.all(Array.from({ length: 16 }, (_, i) => takeOverKey(store.db, seen, 2_000 + i)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect((await read()).lease_until).toBe(2_000 + won.indexOf(true));
    // A second round with the stale lease finds nothing to take.
    expect(await takeOverKey(store.db, seen, 9_000)).toBe(false);
  });

  it('never takes over a claim whose operation committed a resource', async () => {
    expect(await claim(1_000)).toBeNull();
    await preparedTransaction(store, (trx) => recordResource(trx, { scope: 's', key, leaseUntil: 1_000 }, IDEMPOTENT_RESOURCE.verification, 'ver_x'));
    expect(await takeOverKey(store.db, await read(), 2_000)).toBe(false);
    // Nor does a failed answer of the request forget it.
    await releaseKey(store.db, { scope: 's', key, leaseUntil: 1_000 });
    expect(await read()).toMatchObject({ status: 'in_flight', resource_id: 'ver_x' });
  });

  it('rolls a taken-over request back: its operation and its resource, both or neither', async () => {
    expect(await claim(1_000)).toBeNull();
    expect(await takeOverKey(store.db, await read(), 5_000)).toBe(true);
    const stale = { scope: 's', key, leaseUntil: 1_000 };
    const work = preparedTransaction(store, async (trx) => {
      await insertVerification(trx, verificationRow('ver_stale'));
      await recordResource(trx, stale, IDEMPOTENT_RESOURCE.verification, 'ver_stale');
    });
    await expect(work).rejects.toBeInstanceOf(ProblemError);
    expect(await store.db.selectFrom('verifications').select('id').where('id', '=', 'ver_stale').execute()).toEqual([]);
    expect(await read()).toMatchObject({ resource_id: null, lease_until: 5_000 });
    // The stale holder can neither store its answer nor forget the new holder's claim.
    await completeKey(store.db, stale, 201, '{}');
    await releaseKey(store.db, stale);
    expect(await read()).toMatchObject({ status: 'in_flight', response_body: null, lease_until: 5_000 });
    // The holder of the claim can.
    await preparedTransaction(store, async (trx) => {
      await insertVerification(trx, verificationRow('ver_new'));
      await recordResource(trx, { scope: 's', key, leaseUntil: 5_000 }, IDEMPOTENT_RESOURCE.verification, 'ver_new');
    });
    await completeKey(store.db, { scope: 's', key, leaseUntil: 5_000 }, 201, '{"id":"ver_new"}');
    expect(await read()).toMatchObject({ status: 'done', resource_id: 'ver_new', response_body: '{"id":"ver_new"}' });
  });
});

/** The SQL the store runs until stop(): statements prepared on SQLite's connection, or queries sent to Postgres. */
function observeStatements(store: Store): { statements: string[]; stop(): void } {
  const statements: string[] = [];
  let recording = true;
  if (store.sqlite) {
    // Statements are cached and shared (statement-cache.ts): observe them where they run.
    const proto = Object.getPrototypeOf(store.sqlite.prepare('select 1')) as Record<string, (...args: unknown[]) => unknown>;
    const originals = (['run', 'get', 'all', 'iterate'] as const).map((method) => [method, proto[method]] as const);
    for (const [method, original] of originals) {
      proto[method] = function (this: { source: string }, ...args: unknown[]) {
        if (recording) statements.push(this.source);
        return original?.apply(this, args);
      };
    }
    return { statements, stop: () => ((recording = false), originals.forEach(([method, original]) => (proto[method] = original as (...args: unknown[]) => unknown))) };
  }
  const pool = store.pgPool;
  if (!pool) throw new Error('no store to observe');
  const patched = new WeakSet<object>();
  const onAcquire = (client: { query: (...args: unknown[]) => unknown }): void => {
    if (patched.has(client)) return;
    patched.add(client);
    const query = client.query;
    client.query = (...args: unknown[]) => {
      if (recording && typeof args[0] === 'string') statements.push(args[0]);
      return query.apply(client, args);
    };
  };
  pool.on('acquire', onAcquire);
  return { statements, stop: () => ((recording = false), pool.off('acquire', onAcquire)) };
}

function verificationRow(id: string) {
  return {
    id, integration_id: 'int_idem', mode: 'test' as const, identifier: '+5511987654321', identifier_kind: 'phone', country: 'BR', channel: 'sms',
    action: 'sign_in', locale: null, status: 'pending', failure_reason: null, code_hash: 'h', code_sealed: 's', code_length: 6,
    attempts: 0, max_attempts: 3, sends: 1, expires_at: 2_000_000_000_000, last_sent_at: 1, created_at: 1, updated_at: 1, identity_id: null, destination: null,
  };
}
