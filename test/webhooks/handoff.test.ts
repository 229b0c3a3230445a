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
