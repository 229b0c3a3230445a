import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { api, createIntegration, startRuntime } from '../helpers/runtime.js';
import { admin, expectProblem, phone, sendAndCapture, send, useRuntime, wrongCode } from './support.js';

const runtime = useRuntime();

/** API.md: every error type and its status. */
const DOCUMENTED: Record<string, number> = {
  'validation-error': 400,
  'invalid-api-key': 401,
  'invalid-code': 401,
  'code-expired': 401,
  'feature-not-enabled': 403,
  'forbidden-country': 403,
  'test-mode-only': 403,
  'not-found': 404,
  'invalid-state': 409,
  'idempotency-conflict': 409,
  'payload-too-large': 413,
  'idempotency-key-reused': 422,
  'invalid-identity-reference': 422,
  'no-delivery-address': 422,
  'channel-unavailable': 422,
  'rate-limit-exceeded': 429,
  'resend-cooldown': 429,
  'max-attempts-reached': 429,
  'max-sends-reached': 429,
  'identifier-locked': 429,
};

describe('problem details', () => {
  it('every error answer has type, title, status = HTTP status, detail and application/problem+json', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { allowed_countries: ['BR'], checks: { max_attempts: 1 }, limits: { max_sends: 1 } } });
    const off = await createIntegration(rt.app, { policy: { otp_enabled: false } });
    const locking = await createIntegration(rt.app, { policy: { lockout: { max_failures: 1 } } });
    const key = integration.testKey;
    const v1 = api(rt.app, key);

    const collected: [string, LightMyRequestResponse][] = [];
    const collect = (type: string, res: LightMyRequestResponse) => collected.push([type, res]);

    collect('validation-error', await v1.post('/v1/verifications', { identifier: 'nobody' }));
    collect('invalid-api-key', await api(rt.app, 'wrong').get('/v1/policy'));
    collect('invalid-api-key', await admin(rt.app, 'wrong-token-0123456789').get('/admin/v1/integrations'));
    collect('forbidden-country', await v1.post('/v1/verifications', { identifier: '+14155552671' }));
    collect('feature-not-enabled', await api(rt.app, off.testKey).post('/v1/verifications', { identifier: phone() }));
    collect('test-mode-only', await api(rt.app, integration.liveKey).get('/v1/sandbox/messages'));
    collect('not-found', await v1.get('/v1/verifications/ver_doesnotexist0000'));
    collect('not-found', await rt.app.inject({ method: 'GET', url: '/no/such/route' }));
    collect('payload-too-large', await rt.app.inject({ method: 'POST', url: '/v1/verifications', headers: { 'x-api-key': key, 'content-type': 'application/json' }, payload: JSON.stringify({ identifier: phone(), pad: 'x'.repeat(70_000) }) }));
    collect('invalid-identity-reference', await v1.post('/v1/verifications', { identifier: phone(), identity_reference: 'nobody' }));
    collect('no-delivery-address', await v1.post('/v1/verifications', { identifier: '52998224725' }));
    collect('channel-unavailable', await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: phone() }));

    const to = phone();
    const { verification, code } = await sendAndCapture(rt, key, { identifier: to });
    collect('max-sends-reached', await v1.post(`/v1/verifications/${verification.id}/resend`));
    collect('invalid-code', await v1.post('/v1/verifications/check', { identifier: to, code: wrongCode(code) }));
    collect('max-attempts-reached', await v1.post('/v1/verifications/check', { identifier: to, code }));
    collect('invalid-state', await v1.post(`/v1/verifications/${verification.id}/cancel`));

    const other = phone();
    const second = await send(rt.app, key, { identifier: other });
    await v1.post('/v1/verifications', { identifier: other }, { 'idempotency-key': 'k1' });
    await send(rt.app, key, { identifier: other }); // the third send of the minute (the default limit)
    collect('idempotency-key-reused', await v1.post('/v1/verifications', { identifier: phone() }, { 'idempotency-key': 'k1' }));
    collect('rate-limit-exceeded', await v1.post('/v1/verifications', { identifier: other }));
    expect(second.id).toMatch(/^ver_/);

    const cooling = await createIntegration(rt.app);
    const c = await send(rt.app, cooling.testKey, { identifier: phone() });
    collect('resend-cooldown', await api(rt.app, cooling.testKey).post(`/v1/verifications/${c.id}/resend`));

    const lockedTo = phone();
    const locked = await sendAndCapture(rt, locking.testKey, { identifier: lockedTo });
    await api(rt.app, locking.testKey).post('/v1/verifications/check', { identifier: lockedTo, code: wrongCode(locked.code) });
    collect('identifier-locked', await api(rt.app, locking.testKey).post('/v1/verifications/check', { identifier: lockedTo, code: locked.code }));

    for (const [type, res] of collected) {
      const status = DOCUMENTED[type];
      if (status === undefined) throw new Error(`undocumented type ${type}`);
      expectProblem(res, status, type);
    }
    const statuses = new Set(collected.map(([, res]) => res.statusCode));
    expect([...statuses].sort()).toEqual([400, 401, 403, 404, 409, 413, 422, 429]);
  });

  it('the code-expired problem has the same shape', async () => {
    const clock = new ManualClock();
    const rt = await startRuntime({ clock });
    try {
      const integration = await createIntegration(rt.app, { policy: { code: { ttl_s: 1 } } });
      const to = phone();
      const { code } = await sendAndCapture(rt, integration.testKey, { identifier: to });
      clock.advance(1000);
      expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code }), 401, 'code-expired');
    } finally {
      await rt.dispose();
    }
  });
});
