/**
 * Issue 11, "how it is shown": two otpgate processes on one Postgres database, each with its expiry
 * sweeper running (real processes, real time), give one `verification.expired` per expiry.
 */
import { describe, expect, it } from 'vitest';
import { createIntegration, pollUntil, sendCode, sleep } from '../e2e/client.js';
import { deployment, phoneBlock, startNode, useScale } from '../scale/support.js';

useScale();

describe('two serve processes on one Postgres: the expiry sweepers race', () => {
  it('one expiry gives one verification.expired, and every lapsed verification is marked expired without a read', async () => {
    const dep = await deployment();
    const env = { OTPGATE_EXPIRY_SWEEP_INTERVAL_MS: '100' };
    const [a, b] = await Promise.all([startNode(dep, { env }), startNode(dep, { env })]);
    const { testKey } = await createIntegration(a, { policy: { code: { ttl_s: 1 }, limits: { send_per_minute: 100 } } });
    const phone = phoneBlock();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const sent = await sendCode(i % 2 ? a : b, testKey, phone(i));
      expect(sent.status, sent.text).toBe(201);
      ids.push(sent.body.id as string);
    }
    const expiredEvents = async () => (await dep.pool.query<{ data_json: string }>(`select data_json from events where type = 'verification.expired'`)).rows;
    await pollUntil(expiredEvents, (rows) => rows.length >= ids.length, 15_000);
    await sleep(500); // more sweeps of both processes: nothing more to record
    const events = (await expiredEvents()).map((r) => JSON.parse(r.data_json) as { id: string; status: string });
    expect(events.map((e) => e.id).sort()).toEqual([...ids].sort());
    expect(events.every((e) => e.status === 'expired')).toBe(true);
    // count(*)::int: a number whatever int8 parser the process has installed (src/store/database.ts sets one).
    const { rows } = await dep.pool.query<{ status: string; n: number }>(`select status, count(*)::int as n from verifications group by status`);
    expect(rows).toEqual([{ status: 'expired', n: ids.length }]);
  }, 90_000);
});
