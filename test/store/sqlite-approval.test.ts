// The embedded store's approval of a right code: the check's first read brings the verification with
// its deliveries (what `verification.approved` shows), and the approval is one conditional UPDATE
// that writes only if both are still as read; anything changed in between sends it down the general
// path, which reads them again in its transaction.
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createIntegration, latestCode, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { hooks } from '../webhooks/support.js';

type Statement = BetterSqlite3.Statement;
const statementProto = Object.getPrototypeOf(new BetterSqlite3(':memory:').prepare('select 1')) as { all: Statement['all']; run: Statement['run']; get: Statement['get'] };

/** The check's first read: the latest verification joined to its deliveries. */
const isLatestJoinedRead = (source: string): boolean => /^select "v"\.\*, "d"\."id" as "d_id"/.test(source) && source.includes('from (select');

describe('approving a right code on the embedded store', () => {
  let rt: TestRuntime;
  let integration: TestIntegration;
  let n = 0;
  const nextPhone = (): string => `+5511987${String(++n).padStart(6, '0')}`;

  beforeAll(async () => {
    rt = await startRuntime({ env: { OTPGATE_DATABASE_URL: 'sqlite::memory:', OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' } });
    integration = await createIntegration(rt.app);
    const hook = await hooks(rt.app, integration.testKey).patch({ url: 'http://127.0.0.1:9/hook', events: ['*'] });
    expect(hook.statusCode, hook.body).toBe(200);
  });
  afterAll(async () => {
    await rt?.dispose();
  });

  async function sendAndCode(): Promise<{ to: string; id: string; code: string }> {
    const to = nextPhone();
    const sent = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: to });
    expect(sent.statusCode, sent.body).toBe(201);
    return { to, id: (sent.json() as { id: string }).id, code: await latestCode(rt, integration.testKey, to) };
  }

  /** Every statement SQLite runs while `work` does, by its SQL text. */
  async function statementsOf(work: () => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    const saved = { all: statementProto.all, run: statementProto.run, get: statementProto.get };
    for (const name of ['all', 'run', 'get'] as const) {
      const original = saved[name] as (...args: unknown[]) => unknown;
      (statementProto as Record<string, unknown>)[name] = function (this: Statement, ...args: unknown[]) {
        seen.push(this.source.replace(/\s+/g, ' '));
        return original.apply(this, args);
      };
    }
    try {
      await work();
    } finally {
      Object.assign(statementProto, saved);
    }
    return seen;
  }

  /** Checks `code`, running `change` (straight on the connection) right after the check's first read. */
  async function checkWithChangeAfterRead(to: string, code: string, change: () => void): Promise<number> {
    const original = statementProto.all;
    let injected = false;
    statementProto.all = function (this: Statement, ...args: unknown[]) {
      const rows = (original as (...a: unknown[]) => unknown[]).apply(this, args);
      if (!injected && isLatestJoinedRead(this.source)) {
        injected = true;
        change();
      }
      return rows;
    } as Statement['all'];
    try {
      const status = (await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code })).statusCode;
      expect(injected).toBe(true);
      return status;
    } finally {
      statementProto.all = original;
    }
  }

  function approvedEventsOf(id: string): Array<{ status: string; attempts: number; updated_at: string; deliveries: Array<{ status: string }> }> {
    const rows = rt.store.sqlite!.prepare(`select data_json from events where type = 'verification.approved' and data_json like ?`).all(`%${id}%`) as Array<{ data_json: string }>;
    return rows.map((row) => JSON.parse(row.data_json) as { status: string; attempts: number; updated_at: string; deliveries: Array<{ status: string }> });
  }

  const sessionsOf = (id: string): number => (rt.store.sqlite!.prepare('select count(*) as n from sessions where verification_id = ?').get(id) as { n: number }).n;

  it('reads the verification once: the joined read, then the conditional UPDATE, the event, its webhook delivery and the session; no read after the UPDATE', async () => {
    const { to, id, code } = await sendAndCode();
    let status = 0;
    const statements = await statementsOf(async () => {
      status = (await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code })).statusCode;
    });
    expect(status).toBe(200);
    const verificationReads = statements.filter((sql) => /^select .* from "verifications"/.test(sql) || /^select .* from \(select/.test(sql));
    expect(verificationReads, statements.join('\n')).toHaveLength(1);
    expect(isLatestJoinedRead(verificationReads[0]!)).toBe(true);
    expect(statements.filter((sql) => sql.startsWith('select * from "deliveries"')), statements.join('\n')).toEqual([]);
    const writes = statements.filter((sql) => /^(update|insert)/.test(sql)).map((sql) => /^(update|insert into) "([a-z_]+)"/.exec(sql)?.slice(1).join(' '));
    expect(writes).toEqual(['update verifications', 'insert into events', 'insert into webhook_deliveries', 'insert into sessions']);
    // What was written: the approval, and its event with the verification as the API shows it now.
    const shown = (await api(rt.app, integration.testKey).get(`/v1/verifications/${id}`)).json() as { status: string; updated_at: string; deliveries: unknown[] };
    expect(shown.status).toBe('approved');
    const events = approvedEventsOf(id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id, status: 'approved', updated_at: shown.updated_at, deliveries: shown.deliveries });
    expect(sessionsOf(id)).toBe(1);
  });

  /** A send, then a check of its code with `change` (SQL on the verification's id) run right after the check's first read. */
  async function checkAfter(change: string): Promise<{ status: number; events: ReturnType<typeof approvedEventsOf>; sessions: number }> {
    const { to, id, code } = await sendAndCode();
    const status = await checkWithChangeAfterRead(to, code, () => {
      rt.store.sqlite!.prepare(change).run(id);
    });
    return { status, events: approvedEventsOf(id), sessions: sessionsOf(id) };
  }

  it('a check whose verification changed after it was read (a wrong code counted) approves in the general path, its one event showing the change', async () => {
    const { status, events, sessions } = await checkAfter('update verifications set attempts = attempts + 1, updated_at = updated_at + 1 where id = ?');
    expect(status).toBe(200);
    expect(events).toHaveLength(1); // the first try wrote nothing
    expect(events[0]).toMatchObject({ status: 'approved', attempts: 1 });
    expect(sessions).toBe(1);
  });

  it('a check whose delivery changed after it was read (a receipt) approves in the general path, its event showing the delivery as it is now', async () => {
    const { status, events, sessions } = await checkAfter(`update deliveries set status = 'failed', updated_at = updated_at + 1 where verification_id = ?`);
    expect(status).toBe(200);
    expect(events).toHaveLength(1);
    expect(events[0]!.deliveries.map((d) => d.status)).toEqual(['failed']);
    expect(sessions).toBe(1);
  });

  it('a check whose verification another check approved after it was read answers 404 and writes nothing', async () => {
    const { status, events, sessions } = await checkAfter(`update verifications set status = 'approved', updated_at = updated_at + 1 where id = ?`);
    expect(status).toBe(404);
    expect(events).toHaveLength(0);
    expect(sessions).toBe(0);
  });
});
