import { describe, expect, it } from 'vitest';
import { createIntegration } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem, useRuntime } from './support.js';

interface IntegrationBody {
  id: string;
  policy: { require_otp_for: Record<string, boolean> };
}

/** `{ <prefix>_0: true, … }`: `count` new action names. */
function actions(prefix: string, count: number): Record<string, boolean> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}_${i}`, true]));
}

/** `require_otp_for` holds at most 64 actions: the cap holds for the merged result, not one request. */
describe('the require_otp_for cap (64 actions) on the stored policy', () => {
  const runtime = useRuntime();

  it('refuses the second of two PATCHes of 60 new actions and keeps the first', async () => {
    const app = runtime().app;
    const { id } = await createIntegration(app);
    const first = expectJson<IntegrationBody>(await admin(app).patch(`/admin/v1/integrations/${id}`, { policy: { require_otp_for: actions('a', 60) } }), 200);
    expect(Object.keys(first.policy.require_otp_for)).toHaveLength(63); // the preset's 3 and 60
    const second = expectProblem(await admin(app).patch(`/admin/v1/integrations/${id}`, { policy: { require_otp_for: actions('b', 60) } }), 400, 'validation-error');
    expect(second.errors).toEqual({ 'policy.require_otp_for': ['too_many'] });
    const stored = expectJson<IntegrationBody>(await admin(app).get(`/admin/v1/integrations/${id}`), 200);
    expect(Object.keys(stored.policy.require_otp_for)).toHaveLength(63);
    expect(stored.policy.require_otp_for).toMatchObject(actions('a', 60));
    expect(Object.keys(stored.policy.require_otp_for).some((a) => a.startsWith('b_'))).toBe(false);
  });

  it('allows exactly 64, and changes to existing actions at the cap', async () => {
    const app = runtime().app;
    const { id } = await createIntegration(app, { policy: { require_otp_for: actions('a', 60) } });
    const full = expectJson<IntegrationBody>(await admin(app).patch(`/admin/v1/integrations/${id}`, { policy: { require_otp_for: { b_0: true } } }), 200);
    expect(Object.keys(full.policy.require_otp_for)).toHaveLength(64);
    const flipped = expectJson<IntegrationBody>(await admin(app).patch(`/admin/v1/integrations/${id}`, { policy: { require_otp_for: { a_0: false, redemption: false } } }), 200);
    expect(flipped.policy.require_otp_for).toMatchObject({ a_0: false, redemption: false });
    expectProblem(await admin(app).patch(`/admin/v1/integrations/${id}`, { policy: { require_otp_for: { b_1: true } } }), 400, 'validation-error');
    expectJson(await admin(app).patch(`/admin/v1/integrations/${id}`, { name: 'renamed', trust_level: 'relaxed' }), 200);
  });

  it('refuses a create whose policy would hold more than 64 actions with the preset', async () => {
    const app = runtime().app;
    const res = await admin(app).post('/admin/v1/integrations', { name: 'Too many', policy: { require_otp_for: actions('c', 62) } });
    expect(expectProblem(res, 400, 'validation-error').errors).toEqual({ 'policy.require_otp_for': ['too_many'] });
    const ok = await admin(app).post('/admin/v1/integrations', { name: 'Enough', policy: { require_otp_for: actions('c', 61) } });
    expect(Object.keys(expectJson<IntegrationBody>(ok, 201).policy.require_otp_for)).toHaveLength(64);
  });
});
