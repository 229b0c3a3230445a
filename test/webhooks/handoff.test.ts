import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cryptoRandom } from '../../src/domain/clock.js';
import { newId } from '../../src/domain/ids.js';
import { insertEvent } from '../../src/store/events-repo.js';
import { preparedTransaction } from '../../src/store/prepared.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { TEST_STORE } from '../helpers/stores.js';
import { phone } from '../routes/support.js';
import { hooks, startReceiver, type Receiver } from './support.js';

const SECRET = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
const embedded = TEST_STORE === 'sqlite';

/**
 * With the dispatcher running in the process, fresh deliveries are taken from the transactions that
 * write them (fan-out.ts, WebhookHandoff: the embedded store's group commit, Postgres's pipelined
 * transactions), never from one that is rolled back. On Postgres a transaction of Kysely's has no
 * commit hook: its deliveries are written unclaimed and claimed as before.
 */
describe(`webhook handoff (${TEST_STORE})`, () => {
  let rt: TestRuntime;
  let receiver: Receiver;
  let integration: TestIntegration;

  beforeAll(async () => {
    rt = await startRuntime({ worker: true, env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1', OTPGATE_WEBHOOK_POLL_MS: '50', OTPGATE_WEBHOOK_CONCURRENCY_PER_ENDPOINT: '1' } });
  });
  afterAll(async () => {
    await rt.dispose();
  });
  beforeEach(async () => {
    integration = await createIntegration(rt.app);
    receiver = await startReceiver();
    expect((await hooks(rt.app, integration.testKey).patch({ url: receiver.url, secret: SECRET })).statusCode).toBe(200);
  });
  afterEach(async () => {
    await receiver.close();
  });

  const rows = () => rt.store.db.selectFrom('webhook_deliveries').select(['event_type', 'status', 'locked_by']).where('integration_id', '=', integration.id).execute();

  /**
   * Records one event in its own transaction, as the services do (with this process's handoff): a
   * prepared transaction (pipelined on Postgres), or with `kysely` one of Kysely's; `fail` rolls it back.
   */
  async function record(fail = false, kysely = false): Promise<string> {
    const now = rt.services.clock.now();
    const id = newId('evt', cryptoRandom, now);
    const event = { id, integration_id: integration.id, mode: 'test' as const, type: 'verification.created', data: { object: 'handoff' }, now };
    const work = async (trx: Parameters<typeof insertEvent>[0]) => {
      await insertEvent(trx, event, rt.services.webhookHandoff);
      if (fail) throw new Error('rolled back');
    };
    if (kysely) await rt.store.db.transaction().execute(work);
    else await preparedTransaction(rt.store, work);
    return id;
  }

  it('sends the events of a send (created, then delivered by the sandbox) once each, without a claim', async () => {
    const before = rt.webhooks.handedOver;
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: phone() });
    expect(res.statusCode).toBe(201);
    const got = await receiver.waitFor(2);
    const types = got.map((r) => (JSON.parse(r.body) as { type: string }).type);
    expect(types.sort()).toEqual(['verification.created', 'verification.delivered']);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(2);
    expect(rt.webhooks.handedOver - before).toBe(2);
    await expect.poll(async () => (await rows()).map((r) => r.status), { timeout: 5_000 }).toEqual(['succeeded', 'succeeded']);
  });

  it('never sends, nor keeps, the delivery of an event whose transaction is rolled back', async () => {
    const before = rt.webhooks.handedOver;
    await expect(record(true)).rejects.toThrow('rolled back');
    const kept = await record();
    const got = await receiver.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 300)); // time for a wrongly handed-over one to arrive too
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([kept]);
    expect(await rows()).toHaveLength(1);
    expect(rt.webhooks.handedOver - before).toBe(1);
  });

  it(embedded ? 'hands over from a transaction of Kysely\'s too (the group commit holds it)' : 'writes the delivery of a transaction of Kysely\'s unclaimed (no commit hook): it is claimed and sent', async () => {
    const before = rt.webhooks.handedOver;
    const id = await record(false, true);
    const got = await receiver.waitFor(1);
    expect(got.map((r) => r.headers['webhook-id'])).toEqual([id]);
    expect(rt.webhooks.handedOver - before).toBe(embedded ? 1 : 0);
  });

  it("frees the endpoint's slot once the receiver has answered, before the answer is recorded", async () => {
    const held: Array<() => void> = [];
    receiver.respond = (_req, res) => held.push(() => res.writeHead(200).end('ok'));
    const first = await record();
    await receiver.waitFor(1); // in its endpoint's one slot (concurrency 1), unanswered
    const second = await record(); // waits here for that slot
    // Hold up the recording of attempts: the store's connection (embedded) or the first delivery's row (Postgres) is taken.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const taken = new Promise<void>((resolve) => (locked = resolve));
    const holder = rt.store.db.transaction().execute(async (trx) => {
      const q = trx.selectFrom('webhook_deliveries').select('id').where('event_id', '=', first);
      await (embedded ? q : q.forUpdate()).execute();
      locked();
      await gate;
    });
    try {
      await taken;
      held.shift()!(); // the first is answered; its record must wait for the holder
      const got = await receiver.waitFor(2, 5_000);
      expect(got.map((r) => r.headers['webhook-id'])).toEqual([first, second]);
    } finally {
      receiver.respond = (_req, res) => res.writeHead(200).end('ok');
      for (const answer of held.splice(0)) answer();
      release();
      await holder;
    }
    await expect.poll(async () => (await rows()).map((r) => r.status), { timeout: 5_000 }).toEqual(['succeeded', 'succeeded']);
  });

  it('stops handing over while the endpoint has a full queue here: later deliveries are written unclaimed, and all are sent', async () => {
    let hold = true;
    const held: Array<() => void> = [];
    receiver.respond = (_req, res) => {
      if (hold) held.push(() => res.writeHead(200).end('ok'));
      else res.writeHead(200).end('ok');
    };
    const ids: string[] = [];
    ids.push(await record());
    await receiver.waitFor(1); // its one slot (concurrency 1) is taken by the first, which waits
    for (let n = 0; n < 110; n++) ids.push(await record());
    const waiting = await rows();
    const claimed = waiting.filter((r) => r.locked_by === rt.webhooks.id).length;
    expect(claimed).toBeGreaterThanOrEqual(100); // the queue's limit, plus the one in flight
    expect(claimed).toBeLessThan(111);
    expect(waiting.filter((r) => r.locked_by === null).length).toBe(111 - claimed);
    hold = false;
    for (const answer of held.splice(0)) answer();
    const got = await receiver.waitFor(111, 20_000);
    expect(new Set(got.map((r) => r.headers['webhook-id']))).toEqual(new Set(ids));
    await expect.poll(async () => (await rows()).every((r) => r.status === 'succeeded'), { timeout: 10_000 }).toBe(true);
  });
});

/**
 * Beyond its first 100 waiting deliveries, an endpoint takes fresh ones by handoff as long as its
 * pace here sends them within most of the hold a claim allows (dispatcher.ts, handoffRoom), up to
 * the process's OTPGATE_WEBHOOK_QUEUE_MAX; what does not fit is written unclaimed, and all are sent.
 */
describe(`webhook handoff paced by the endpoint (${TEST_STORE})`, () => {
  let rt: TestRuntime;
  let receiver: Receiver;
  let integration: TestIntegration;
  // Small enough that a pace measured on a busy machine (50 attempts a second, one slot) gives room beyond them.
  const QUEUE_MAX = 150;
  const MAX_IN_FLIGHT = 120;

  beforeAll(async () => {
    rt = await startRuntime({
      worker: true,
      env: {
        OTPGATE_WEBHOOK_ALLOW_INSECURE: '1',
        OTPGATE_WEBHOOK_POLL_MS: '50',
        OTPGATE_WEBHOOK_CONCURRENCY_PER_ENDPOINT: '1',
        OTPGATE_WEBHOOK_QUEUE_MAX: String(QUEUE_MAX),
        OTPGATE_WEBHOOK_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
      },
    });
    integration = await createIntegration(rt.app);
    receiver = await startReceiver();
    expect((await hooks(rt.app, integration.testKey).patch({ url: receiver.url, secret: SECRET })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await receiver.close();
    await rt.dispose();
  });

  /** Records an event for `of` (default: the suite's integration); without `handoff`, written unclaimed (as another process would). */
  async function record(of: TestIntegration = integration, handoff = true): Promise<string> {
    const now = rt.services.clock.now();
    const id = newId('evt', cryptoRandom, now);
    await preparedTransaction(rt.store, (trx) =>
      insertEvent(trx, { id, integration_id: of.id, mode: 'test', type: 'verification.created', data: { object: 'paced' }, now }, handoff ? rt.services.webhookHandoff : undefined),
    );
    return id;
  }

  it('takes more than 100 waiting deliveries for an endpoint that has shown it sends them in time, up to the process cap', async () => {
    const endpoint = await rt.store.db.selectFrom('webhook_endpoints').select('id').where('integration_id', '=', integration.id).executeTakeFirstOrThrow();
    // Unknown pace: the room is the queue's limit.
    expect(rt.webhooks.handoffRoom(endpoint.id)).toBe(100);
    // Events at full speed, answered at once, until the endpoint's pace is measured (a window of a second).
    const fast: string[] = [];
    const deadline = Date.now() + 20_000;
    while (rt.webhooks.handoffRoom(endpoint.id) <= QUEUE_MAX + 50 && Date.now() < deadline) fast.push(await record());
    expect(rt.webhooks.handoffRoom(endpoint.id)).toBeGreaterThan(QUEUE_MAX + 50);
    await receiver.waitFor(fast.length, 20_000);
    await expect.poll(async () => (await rt.store.db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'pending').execute()).length, { timeout: 10_000 }).toBe(0);

    // Now the receiver holds its one slot: what follows waits in this process, beyond 100, up to QUEUE_MAX.
    let hold = true;
    const held: Array<() => void> = [];
    receiver.respond = (_req, res) => {
      if (hold) held.push(() => res.writeHead(200).end('ok'));
      else res.writeHead(200).end('ok');
    };
    const before = rt.webhooks.handedOver;
    const ids = [await record()];
    await receiver.waitFor(fast.length + 1);
    for (let n = 0; n < QUEUE_MAX + 30; n++) ids.push(await record());
    const waiting = await rt.store.db.selectFrom('webhook_deliveries').select(['event_id', 'locked_by']).where('status', '=', 'pending').execute();
    expect(waiting).toHaveLength(ids.length);
    expect(waiting.filter((r) => r.locked_by === rt.webhooks.id)).toHaveLength(QUEUE_MAX + 1); // the cap, plus the one in flight
    expect(waiting.filter((r) => r.locked_by === null)).toHaveLength(ids.length - QUEUE_MAX - 1);
    expect(rt.webhooks.handedOver - before).toBe(QUEUE_MAX + 1);
    hold = false;
    for (const answer of held.splice(0)) answer();
    const got = await receiver.waitFor(fast.length + ids.length, 20_000);
    expect(new Set(got.slice(fast.length).map((r) => r.headers['webhook-id']))).toEqual(new Set(ids));
    await expect.poll(async () => (await rt.store.db.selectFrom('webhook_deliveries').select('id').where('status', '!=', 'succeeded').execute()).length, { timeout: 10_000 }).toBe(0);
  });

  it("does not stop claiming other endpoints' due deliveries while one endpoint holds more than 100 handed over", async () => {
    const endpoint = await rt.store.db.selectFrom('webhook_endpoints').select('id').where('integration_id', '=', integration.id).executeTakeFirstOrThrow();
    expect(rt.webhooks.handoffRoom(endpoint.id)).toBeGreaterThan(QUEUE_MAX); // measured by the test above
    const seen = (await receiver.waitFor(0)).length;
    const held: Array<() => void> = [];
    receiver.respond = (_req, res) => held.push(() => res.writeHead(200).end('ok'));
    // More waiting for this endpoint than the process's MAX_IN_FLIGHT: a claim counts 100 of them.
    await record();
    await receiver.waitFor(seen + 1);
    for (let n = 0; n < MAX_IN_FLIGHT + 50; n++) await record();
    const other = await createIntegration(rt.app);
    const otherReceiver = await startReceiver();
    try {
      expect((await hooks(rt.app, other.testKey).patch({ url: otherReceiver.url, secret: SECRET })).statusCode).toBe(200);
      const id = await record(other, false); // unclaimed: only a claim sends it
      const got = await otherReceiver.waitFor(1, 5_000);
      expect(got.map((r) => r.headers['webhook-id'])).toEqual([id]);
    } finally {
      receiver.respond = (_req, res) => res.writeHead(200).end('ok');
      for (const answer of held.splice(0)) answer();
      await otherReceiver.close();
    }
    await receiver.waitFor(seen + MAX_IN_FLIGHT + 51, 20_000);
  });
});
