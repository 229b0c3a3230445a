/**
 * Long-poll across processes: two runtimes on one Postgres database and one Redis. A request waiting
 * in one is answered when the code lands through the other (the notifier's `inbox` topic).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deliverInbound } from '../../src/sandbox/inbox-intake.js';
import { inboxSettings } from '../../src/services/inbox-settings.js';
import { eventually } from '../events/support.js';
import { api, createIntegration, startRuntime } from '../helpers/runtime.js';
import { createThrowawayDatabase, NEEDS_POSTGRES, NEEDS_REDIS, POSTGRES_URL, REDIS_URL } from '../helpers/stores.js';
import { expectJson } from '../routes/support.js';
import { createInbox, inbound, type InboxBody } from './inbox-support.js';

const skip = !POSTGRES_URL ? NEEDS_POSTGRES : !REDIS_URL ? NEEDS_REDIS : null;

describe.skipIf(skip !== null)(`two processes on Postgres + Redis${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a code landing through one process answers a wait held by the other', async () => {
    const db = await createThrowawayDatabase(POSTGRES_URL as string);
    const env = { OTPGATE_DATABASE_URL: db.url, OTPGATE_SECRET: randomBytes(32).toString('base64url'), OTPGATE_REDIS_URL: REDIS_URL as string };
    const a = await startRuntime({ env });
    const b = await startRuntime({ env });
    try {
      const { testKey } = await createIntegration(a.app);
      const inbox = await createInbox(a.app, testKey, { kind: 'email' });
      const held = api(a.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=20`);
      await eventually(async () => (inboxSettings(a.services).waiters.size === 1 ? true : undefined), 5_000);
      await new Promise((r) => setTimeout(r, 100)); // the subscription is live
      expect(await deliverInbound(b.services, inbound(inbox.address, 'code 112358'))).toEqual({ inboxId: inbox.id });
      const started = performance.now();
      expect(expectJson<InboxBody>(await held, 200)).toMatchObject({ status: 'otp_received', otp_code: '112358' });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await a.dispose();
      await b.dispose();
      await db.drop();
    }
  });
});
