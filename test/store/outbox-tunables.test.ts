import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { enqueue } from '../../src/store/outbox-repo.js';
import { createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';

const runtimes: TestRuntime[] = [];
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

/** Enqueues a message claimed by the runtime's own worker, as a send does, and reads back its lease. */
async function leaseOfAClaimedMessage(env: Record<string, string>): Promise<{ lockedUntil: number | null; now: number }> {
  const clock = new ManualClock();
  const rt = await startRuntime({ env, clock, worker: true });
  runtimes.push(rt);
  const integration = await createIntegration(rt.app);
  const claim = rt.worker.claimForHandoff();
  expect(claim).not.toBeNull();
  await enqueue(rt.store.db, { id: 'obx_tunables', kind: 'nothing-handles-this', integration_id: integration.id, mode: 'test', payload_json: '{}', now: clock.now(), claim });
  const row = await rt.store.db.selectFrom('outbox').select(['locked_until', 'locked_by']).where('id', '=', 'obx_tunables').executeTakeFirstOrThrow();
  expect(row.locked_by).toBe(rt.worker.id);
  return { lockedUntil: row.locked_until === null ? null : Number(row.locked_until), now: clock.now() };
}

describe('outbox tunables from the environment', () => {
  it('OTPGATE_OUTBOX_LEASE_MS sets the lease the worker of a runtime puts on a claimed message', async () => {
    const { lockedUntil, now } = await leaseOfAClaimedMessage({ OTPGATE_OUTBOX_LEASE_MS: '42000' });
    expect(lockedUntil).toBe(now + 42_000);
  });

  it('without it the lease is the default 5 s', async () => {
    const { lockedUntil, now } = await leaseOfAClaimedMessage({});
    expect(lockedUntil).toBe(now + 5_000);
  });
});
