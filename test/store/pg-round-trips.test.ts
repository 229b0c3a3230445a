/**
 * How many round trips to Postgres a send and a check cost on the hot path (a known integration, a
 * webhook configured, Redis for limits): counted on node-postgres's client, so that a change that adds
 * one back fails here; and the commands each sends to Redis, counted on ioredis's client. A round
 * trip is one `client.query` call (a pipelined transaction sends several statements in one; see
 * src/store/pg-pipeline.ts).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, api, createIntegration, latestCode, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { hooks, startReceiver } from '../webhooks/support.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, NEEDS_REDIS, POSTGRES_URL, REDIS_URL } from '../helpers/stores.js';

const skip = !POSTGRES_URL ? NEEDS_POSTGRES : !REDIS_URL ? NEEDS_REDIS : null;

/** The commands any ioredis client sends while `work` runs (a script counts as one: EVALSHA). */
async function redisCommandsOf(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const original = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (this: Redis, command: { name: string }, ...rest: unknown[]) {
    seen.push(command.name);
    return (original as (...a: unknown[]) => unknown).call(this, command, ...rest);
  } as typeof original;
  try {
    await work();
  } finally {
    Redis.prototype.sendCommand = original;
  }
  return seen;
}

/** The SQL of the statements PREPAREd on the connections (names are unique in the process). */
const preparedSql = new Map<string, string>();
const PREPARE = /^PREPARE (otpgate_\w+) AS ([\s\S]*)$/;
const EXECUTE = /^EXECUTE (otpgate_\w+)\(/;

/**
 * Every query sent by any node-postgres client while `work` runs, its statements (values elided)
 * each; a statement run by name (EXECUTE of one PREPAREd on the connection) is shown as its SQL, and
 * the PREPARE that goes with its first use is not listed (it travels in the same round trip).
 */
async function roundTripsOf(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const config = args[0] as string | { text?: string };
    const text = typeof config === 'string' ? config : (config.text ?? '');
    const statements: string[] = [];
    for (const statement of text.split(';\n')) {
      const prepare = PREPARE.exec(statement);
      if (prepare) {
        preparedSql.set(prepare[1] as string, prepare[2] as string);
        continue;
      }
      const name = EXECUTE.exec(statement)?.[1];
      statements.push(name === undefined ? statement : (preparedSql.get(name) ?? statement));
    }
    seen.push(
      statements
        .map((statement) => {
          const elided = statement.replace(/'(?:[^']|'')*'/g, '?').replace(/\s+/g, ' ');
          // A multi-row INSERT (a group's one-row INSERTs of one statement, merged) says how many rows it carries.
          const rows = /^insert into "[^"]+" \([^()]*\) values \(/.test(elided) ? elided.split('), (').length : 1;
          return `${elided.slice(0, 60)}${rows > 1 ? ` [${rows} rows]` : ''}`;
        })
        .join('; '),
    );
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    await work();
  } finally {
    pg.Client.prototype.query = original;
  }
  return seen;
}

/** Rows the trips insert into `table`: one per one-row INSERT, n for a multi-row one ("[n rows]"). */
function rowsInserted(trips: string[], table: string): number {
  let n = 0;
  for (const trip of trips) {
    for (const statement of trip.split('; ')) if (statement.startsWith(`insert into "${table}"`)) n += Number(/\[(\d+) rows\]$/.exec(statement)?.[1] ?? 1);
  }
  return n;
}

let phone = 5511987650000;
const nextPhone = (): string => `+${phone++}`;

/**
 * A runtime on a throwaway database (with `env` on top: Redis or not) whose integration has a webhook
 * for every event, warmed by a first send and check: the API key, the webhook endpoint and the policy
 * are cached, so what is counted afterwards is the hot path.
 */
async function warmRuntime(env: Record<string, string>): Promise<{ rt: TestRuntime; integration: TestIntegration; drop: () => Promise<void> }> {
  const db = await createThrowawayDatabase(POSTGRES_URL as string);
  const rt = await startRuntime({ env: { OTPGATE_DATABASE_URL: db.url, OTPGATE_SECRET: randomBytes(32).toString('base64url'), OTPGATE_WEBHOOK_ALLOW_INSECURE: '1', ...env } });
  const integration = await createIntegration(rt.app);
  const hook = await hooks(rt.app, integration.testKey).patch({ url: 'http://127.0.0.1:9/hook', events: ['*'] });
  expect(hook.statusCode, hook.body).toBe(200);
  // Through the recorder, so that the statements it prepares are known when later trips run them by name.
  await roundTripsOf(async () => {
    const first = nextPhone();
    expect((await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: first })).statusCode).toBe(201);
    const code = await latestCode(rt, integration.testKey, first);
    expect((await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: first, code })).statusCode).toBe(200);
  });
  return { rt, integration, drop: db.drop };
}

describe.skipIf(skip !== null)(`round trips to Postgres per send and check${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let rt: TestRuntime;
  let integration: TestIntegration;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ rt, integration, drop } = await warmRuntime({ OTPGATE_REDIS_URL: REDIS_URL as string }));
  });
  afterAll(async () => {
    await rt?.dispose();
    await drop?.();
  });

  it('a send reaches Postgres in two round trips: BEGIN with the lock and the read of the pending one, then every write with the COMMIT', async () => {
    const to = nextPhone();
    const webhookDeliveries = async (): Promise<number> => ((await hooks(rt.app, integration.testKey).deliveries('?limit=100')).json() as { data: unknown[] }).data.length;
    const before = await webhookDeliveries();
    let sent: { statusCode: number; body: string } = { statusCode: 0, body: '' };
    let redisCommands: string[] = [];
    const trips = await roundTripsOf(async () => {
      redisCommands = await redisCommandsOf(async () => {
        sent = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to });
      });
    });
    expect(sent.statusCode).toBe(201);
    // The lock check and the send's count: one script (they were a MULTI and a script). The PUBLISH is
    // the outbox notice: this test's worker is not running, so the message is left for any process's.
    expect(redisCommands).toEqual(['evalsha', 'publish']);
    expect(trips, trips.join('\n')).toHaveLength(2);
    expect(trips[0]).toMatch(/^BEGIN; select pg_advisory_xact_lock/);
    expect(trips[1]).toMatch(/^insert into "verifications"/);
    expect(trips[1]).toMatch(/COMMIT$/);
    // Everything the send wrote is there: the verification, and its event's webhook delivery.
    const { id } = JSON.parse(sent.body) as { id: string };
    expect((await api(rt.app, integration.testKey).get(`/v1/verifications/${id}`)).statusCode).toBe(200);
    expect(await webhookDeliveries()).toBe(before + 1);
  });

  it('a check of the right code reaches Postgres in two: the latest verification with its deliveries, then the approval (if still as read), its event, its webhook delivery and the session with the COMMIT', async () => {
    const to = nextPhone();
    expect((await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).statusCode).toBe(201);
    const code = await latestCode(rt, integration.testKey, to);
    let status = 0;
    let body = '';
    let redisCommands: string[] = [];
    const trips = await roundTripsOf(async () => {
      redisCommands = await redisCommandsOf(async () => {
        const res = await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code });
        status = res.statusCode;
        body = res.body;
      });
    });
    expect(status).toBe(200);
    // Redis: the lock check, the check's count and the failure reserved before comparing in one script,
    // the budget reset once approved in another (they were six commands).
    expect(redisCommands).toEqual(['evalsha', 'evalsha']);
    expect(trips, trips.join('\n')).toHaveLength(2);
    expect(trips[0]).toMatch(/^ select k\.i::int as batch_index/); // with its deliveries, as a json_agg (and the other checks of its turn)
    expect(trips[1]).toMatch(/^BEGIN; with "approved" as \(update "verifications".*insert into "events".*insert into "webhook_deliveries".*insert into "sessions".*COMMIT$/);
    // What was written: the approval, and its event with the verification as the API shows it now.
    const { verification_id: id } = JSON.parse(body) as { verification_id: string };
    const shown = (await api(rt.app, integration.testKey).get(`/v1/verifications/${id}`)).json() as { status: string; updated_at: string; deliveries: unknown[] };
    expect(shown.status).toBe('approved');
    const { rows } = await rt.store.pgPool!.query<{ data_json: string }>(`select data_json from events where type = 'verification.approved' and data_json like $1`, [`%${id}%`]);
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.data_json)).toMatchObject({ id, status: 'approved', updated_at: shown.updated_at, deliveries: shown.deliveries });
  });

  /** Runs `change` (on another connection) right after the check's first read answers, then the check. */
  async function checkWithChangeAfterRead(to: string, code: string, change: () => Promise<unknown>): Promise<number> {
    const original = pg.Client.prototype.query;
    let injected = false;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string }).text ?? '');
      const result = (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
      if (injected || !text.includes('json_agg')) return result;
      injected = true;
      return result.then(async (answer) => {
        await change();
        return answer;
      });
    } as typeof original;
    try {
      const status = (await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code })).statusCode;
      expect(injected).toBe(true);
      return status;
    } finally {
      pg.Client.prototype.query = original;
    }
  }

  async function approvedEventsOf(id: string): Promise<Array<{ attempts: number; deliveries: Array<{ status: string }> }>> {
    const { rows } = await rt.store.pgPool!.query<{ data_json: string }>(`select data_json from events where type = 'verification.approved' and data_json like $1`, [`%${id}%`]);
    return rows.map((row) => JSON.parse(row.data_json) as { attempts: number; deliveries: Array<{ status: string }> });
  }

  it('a check whose verification changed after it was read (a wrong code counted) writes nothing in its first try and approves in the general path, with the event showing the change', async () => {
    const to = nextPhone();
    const sent = (await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).json() as { id: string };
    const code = await latestCode(rt, integration.testKey, to);
    const status = await checkWithChangeAfterRead(to, code, () =>
      rt.store.pgPool!.query('update verifications set attempts = attempts + 1, updated_at = updated_at + 1 where id = $1', [sent.id]),
    );
    expect(status).toBe(200);
    const events = await approvedEventsOf(sent.id);
    expect(events).toHaveLength(1); // the first try's event was never committed
    expect(events[0]).toMatchObject({ status: 'approved', attempts: 1 });
    const sessions = await rt.store.pgPool!.query('select 1 from sessions where verification_id = $1', [sent.id]);
    expect(sessions.rowCount).toBe(1);
  });

  it('a check whose delivery changed after it was read (a receipt) approves in the general path, its event showing the delivery as it is now', async () => {
    const to = nextPhone();
    const sent = (await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).json() as { id: string };
    const code = await latestCode(rt, integration.testKey, to);
    const status = await checkWithChangeAfterRead(to, code, () =>
      rt.store.pgPool!.query(`update deliveries set status = 'failed', updated_at = updated_at + 1 where verification_id = $1`, [sent.id]),
    );
    expect(status).toBe(200);
    const events = await approvedEventsOf(sent.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.deliveries.map((d) => d.status)).toEqual(['failed']);
  });

  it('sends and approvals ready together share one group commit: 20 sends, then 20 checks, reach Postgres in a few round trips, not two each', async () => {
    const numbers = Array.from({ length: 20 }, nextPhone);
    let sent: Array<{ statusCode: number }> = [];
    const sendTrips = await roundTripsOf(async () => {
      sent = await Promise.all(numbers.map((to) => api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })));
    });
    expect(sent.map((res) => res.statusCode)).toEqual(numbers.map(() => 201));
    const sendCommits = sendTrips.filter((trip) => /COMMIT$/.test(trip));
    // One transaction for the sends ready in the same turn (inject() may spread them over a few turns).
    expect(sendCommits.length, sendTrips.join('\n')).toBeLessThanOrEqual(4);
    expect(rowsInserted(sendCommits, 'verifications')).toBe(numbers.length);
    // The group's one-row INSERTs of one statement went as multi-row INSERTs (pg-pipeline.ts).
    expect(sendCommits.join('\n'), sendTrips.join('\n')).toMatch(/insert into "verifications" [^;]*\[\d+ rows\]/);
    await rt.worker.drain(); // the test-mode messages captured: their codes are in the sandbox
    const codes = await Promise.all(numbers.map((to) => latestCode(rt, integration.testKey, to)));
    let checked: Array<{ statusCode: number }> = [];
    const checkTrips = await roundTripsOf(async () => {
      checked = await Promise.all(numbers.map((to, i) => api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: codes[i] })));
    });
    expect(checked.map((res) => res.statusCode)).toEqual(numbers.map(() => 200));
    // The checks' reads of their verifications go together too: one statement for those of a turn.
    const reads = checkTrips.filter((trip) => trip.includes('batch_index'));
    expect(reads.length, checkTrips.join('\n')).toBeLessThanOrEqual(4);
    const approvals = checkTrips.filter((trip) => trip.includes('with "approved" as'));
    expect(approvals.length, checkTrips.join('\n')).toBeLessThanOrEqual(4);
    expect(approvals.join('\n').split('with "approved" as')).toHaveLength(numbers.length + 1);
    // Each was committed: its verification approved, one session each.
    const { rows } = await rt.store.pgPool!.query<{ n: string }>(
      `select count(*)::text as n from sessions s join verifications v on v.id = s.verification_id where v.status = 'approved' and v.identifier = any($1)`,
      [numbers],
    );
    expect(Number(rows[0]!.n)).toBe(numbers.length);
    // /metrics counts the groups and what they held: several requests a group.
    const metrics = (await rt.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body;
    const value = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const groups = value('otpgate_postgres_group_commits_total');
    expect(groups).toBeGreaterThanOrEqual(1);
    expect(value('otpgate_postgres_group_commit_members_total')).toBeGreaterThanOrEqual(Math.max(2 * groups, numbers.length));
    expect(value('otpgate_postgres_group_commit_retries_total')).toBe(0);
  });

  it('the outbox worker records a batch of messages side by side: one round trip carries every capture of the batch', async () => {
    const numbers = Array.from({ length: 20 }, nextPhone);
    for (const to of numbers) expect((await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).statusCode).toBe(201);
    const trips = await roundTripsOf(() => rt.worker.drain());
    const captures = trips.filter((trip) => trip.includes('insert into "sandbox_messages"'));
    expect(captures, trips.join('\n')).toHaveLength(1);
    expect(rowsInserted(captures, 'sandbox_messages')).toBe(numbers.length);
    // Recording the batch (captures, deliveries, events, outbox) took a few round trips, not a few per message.
    const recording = trips.filter((trip) => /insert into "sandbox_messages"|update "deliveries"|insert into "events"|update "outbox" set "status"/.test(trip));
    expect(recording.length).toBeLessThanOrEqual(6);
    for (const to of numbers) expect(await latestCode(rt, integration.testKey, to)).toMatch(/^\d+$/);
  });

  it('the webhook dispatcher records the attempts that end together in one round trip, with no COMMIT of its own', async () => {
    const receiver = await startReceiver();
    try {
      expect((await hooks(rt.app, integration.testKey).patch({ url: receiver.url })).statusCode).toBe(200);
      for (let i = 0; i < 5; i++) expect((await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: nextPhone() })).statusCode).toBe(201);
      const trips = await roundTripsOf(() => rt.webhooks.drain());
      expect((await receiver.waitFor(5)).length).toBeGreaterThanOrEqual(5);
      const records = trips.filter((trip) => trip.includes('update "webhook_deliveries" set "status"'));
      expect(records.length, trips.join('\n')).toBeGreaterThanOrEqual(1);
      expect(records.join('; ').split('update "webhook_deliveries" set "status"').length - 1).toBeGreaterThanOrEqual(5);
      // An implicit transaction: no BEGIN with the records, and no COMMIT in a round trip of its own.
      for (const trip of records) expect(trip).not.toMatch(/^BEGIN/);
      expect(trips.filter((trip) => trip === 'COMMIT'), trips.join('\n')).toEqual([]);
    } finally {
      expect((await hooks(rt.app, integration.testKey).patch({ url: 'http://127.0.0.1:9/hook' })).statusCode).toBe(200);
      await receiver.close();
    }
  });
});

describe.skipIf(!POSTGRES_URL)(`round trips on Postgres alone (no Redis: limits in the database)${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  let rt: TestRuntime;
  let integration: TestIntegration;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ rt, integration, drop } = await warmRuntime({}));
  });
  afterAll(async () => {
    await rt?.dispose();
    await drop?.();
  });

  it('a send: two round trips, the admission (lock check and count) in the first, with the lock and the look for a pending one', async () => {
    const to = nextPhone();
    let status = 0;
    const trips = await roundTripsOf(async () => {
      status = (await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).statusCode;
    });
    expect(status).toBe(201);
    expect(trips, trips.join('\n')).toHaveLength(2);
    expect(trips[0], trips[0]).toMatch(/^BEGIN; select pg_advisory_xact_lock.*; select "id" from "verifications".*;\s+with lock as \(select expire from rate_limits/s);
    expect(trips[1]).toMatch(/^insert into "verifications".*COMMIT$/s);
  });

  it('a send over the limit is refused (429) with its count kept and nothing else written', async () => {
    const to = nextPhone();
    const count = async (): Promise<number> =>
      (await rt.store.pgPool!.query<{ points: number }>(`select points from rate_limits where key like 'otpg_send:%' and key like $1`, [`%${to}`])).rows[0]?.points ?? 0;
    const limit = 3; // the default policy's send_per_minute
    const statuses: number[] = [];
    for (let i = 0; i <= limit; i++) statuses.push((await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).statusCode);
    expect(statuses).toEqual([...Array.from({ length: limit }, () => 201), 429]);
    expect(await count()).toBe(limit + 1);
    const { rows } = await rt.store.pgPool!.query<{ n: string }>(`select count(*)::text as n from verifications where identifier = $1`, [to]);
    expect(Number(rows[0]!.n)).toBe(limit);
  });

  it("a check of the right code: the limits' step with the read of the verification, then the approval with the failures' reset and the COMMIT", async () => {
    const to = nextPhone();
    expect((await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to })).statusCode).toBe(201);
    const code = await latestCode(rt, integration.testKey, to);
    // A wrong code first: a failure is counted, and the approval must reset it.
    expect((await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: code === '000000' ? '111111' : '000000' })).statusCode).toBe(401);
    const failures = async (): Promise<number> =>
      (await rt.store.pgPool!.query<{ n: string }>(`select coalesce(sum(points), 0)::text as n from rate_limits where key like 'otpg_fail:%' and key like $1`, [`%${to}`])).rows.map((row) => Number(row.n))[0]!;
    expect(await failures()).toBe(1);
    let status = 0;
    const trips = await roundTripsOf(async () => {
      status = (await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code })).statusCode;
    });
    expect(status).toBe(200);
    expect(trips, trips.join('\n')).toHaveLength(2);
    expect(trips[0]).toMatch(/^\s*with lock as \(select expire from rate_limits.*; select "id", "integration_id"/s);
    expect(trips[1]).toMatch(/^BEGIN; with "approved" as .*delete from rate_limits where key = .*COMMIT$/s);
    expect(await failures()).toBe(0);
  });
});
