import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ManualClock } from '../../src/domain/clock.js';
import { sweepExpired } from '../../src/services/expiry-sweeper.js';
import { runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration, startRuntime } from '../helpers/runtime.js';
import { NEEDS_POSTGRES, POSTGRES_URL, createThrowawayDatabase } from '../helpers/stores.js';
import { expectProblem, getVerification, phone, send } from '../routes/support.js';
import { eventually, storedEvents } from './support.js';

const START = Date.UTC(2026, 2, 4, 8);
const CHECK = '/v1/verifications/check';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Per verification id, how many verification.expired events were recorded. */
function countById(events: { data: Record<string, unknown> }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.data.id as string, (counts.get(e.data.id as string) ?? 0) + 1);
  return counts;
}

describe('the expiry sweeper', () => {
  it('runs every 15 s unless OTPGATE_EXPIRY_SWEEP_INTERVAL_MS says otherwise (100–60,000 ms)', () => {
    const base = { OTPGATE_DATA_DIR: '/tmp/otpgate-config-only' };
    expect(loadConfig(base).expirySweepIntervalMs).toBe(15_000);
    expect(loadConfig({ ...base, OTPGATE_EXPIRY_SWEEP_INTERVAL_MS: '2500' }).expirySweepIntervalMs).toBe(2_500);
    expect(loadConfig({ ...base, OTPGATE_EXPIRY_SWEEP_INTERVAL_MS: '' }).expirySweepIntervalMs).toBe(15_000);
    for (const bad of ['99', '60001', '1.5', 'soon']) expect(() => loadConfig({ ...base, OTPGATE_EXPIRY_SWEEP_INTERVAL_MS: bad })).toThrow(/OTPGATE_EXPIRY_SWEEP_INTERVAL_MS/);
  });

  it('records verification.expired within its interval of the expiry, with no read of the verification', async () => {
    const { rt, clock } = await runtimeWithClock(START, { worker: true, env: { OTPGATE_EXPIRY_SWEEP_INTERVAL_MS: '100' } });
    const { testKey } = await createIntegration(rt.app, { policy: { code: { ttl_s: 120 } } });
    const created = await send(rt.app, testKey, { identifier: phone() });
    await sleep(350); // several sweeps before the expiry: nothing is expired early
    expect(await storedEvents(rt, { type: 'verification.expired' })).toHaveLength(0);
    clock.advance(120_000);
    const started = Date.now();
    const [event] = await eventually(async () => {
      const events = await storedEvents(rt, { type: 'verification.expired' });
      return events.length > 0 ? events : undefined;
    }, 5_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(event!.created_at).toBe(START + 120_000);
    const row = await rt.store.db.selectFrom('verifications').select(['status', 'failure_reason', 'code_sealed']).where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'expired', failure_reason: 'expired', code_sealed: null });
    expect(event!.data).toEqual(await getVerification(rt.app, testKey, created.id));
    await sleep(350); // later sweeps find nothing more to do
    expect(await storedEvents(rt, { type: 'verification.expired' })).toHaveLength(1);
  });

  it('sweeps in batches, and sweeps racing with each other and with checks record one event per expiry', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { testKey } = await createIntegration(rt.app, { policy: { code: { ttl_s: 60 } } });
    const ids: { id: string; to: string }[] = [];
    for (let i = 0; i < 25; i++) {
      const to = phone();
      ids.push({ id: (await send(rt.app, testKey, { identifier: to })).id, to });
    }
    clock.advance(1);
    const later = await send(rt.app, testKey, { identifier: phone() }); // expires one ms after the others
    clock.advance(59_998);
    expect(await sweepExpired(rt.services)).toBe(0);
    clock.advance(1);
    await Promise.all([
      sweepExpired(rt.services, 4),
      sweepExpired(rt.services, 7),
      sweepExpired(rt.services),
      ...ids.slice(0, 10).map(({ to }) => api(rt.app, testKey).post(CHECK, { identifier: to, code: '000000' }).then((res) => expectProblem(res, 401, 'code-expired'))),
    ]);
    const counts = countById(await storedEvents(rt, { type: 'verification.expired' }));
    expect([...counts.keys()].sort()).toEqual(ids.map((v) => v.id).sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await getVerification(rt.app, testKey, later.id)).toMatchObject({ status: 'pending' });
    clock.advance(1);
    expect(await sweepExpired(rt.services)).toBe(1);
    expect(await sweepExpired(rt.services)).toBe(0);
  });
});

describe.skipIf(!POSTGRES_URL)(`two processes on one Postgres database${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  it('one expiry gives one verification.expired, however the two processes’ sweepers and checks race', async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    onTestFinished(() => db.drop());
    const clock = new ManualClock(START);
    const env = { OTPGATE_DATABASE_URL: db.url, OTPGATE_SECRET: randomBytes(32).toString('base64url'), OTPGATE_EXPIRY_SWEEP_INTERVAL_MS: '100' };
    const first = await startRuntime({ clock, worker: true, env });
    onTestFinished(() => first.dispose());
    const second = await startRuntime({ clock, worker: true, env });
    onTestFinished(() => second.dispose());
    const { testKey } = await createIntegration(first.app, { policy: { code: { ttl_s: 60 }, limits: { check_per_minute: 100 } } });
    const sent: { id: string; to: string }[] = [];
    for (let i = 0; i < 60; i++) {
      const to = phone();
      sent.push({ id: (await send(first.app, testKey, { identifier: to })).id, to });
    }
    clock.advance(60_000);
    // Both processes' timers sweep now; explicit sweeps and expired checks from both join the race.
    await Promise.all([
      ...[first, second].flatMap((rt) => [sweepExpired(rt.services, 5), sweepExpired(rt.services, 13), sweepExpired(rt.services)]),
      ...sent.slice(0, 20).map(({ to }, i) => api((i % 2 ? first : second).app, testKey).post(CHECK, { identifier: to, code: '000000' }).then((res) => expectProblem(res, 401, 'code-expired'))),
    ]);
    await sleep(300);
    const events = await storedEvents(first, { type: 'verification.expired' });
    const counts = countById(events);
    expect(events).toHaveLength(sent.length);
    expect([...counts.keys()].sort()).toEqual(sent.map((v) => v.id).sort());
    const statuses = await first.store.db.selectFrom('verifications').select('status').distinct().execute();
    expect(statuses).toEqual([{ status: 'expired' }]);
  });
});
