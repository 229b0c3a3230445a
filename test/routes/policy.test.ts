import { describe, expect, it } from 'vitest';
import { api, createIntegration } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem, recordingChannels, useRuntime } from './support.js';

const runtime = useRuntime();

interface PolicyBody {
  trust_level: string;
  require_otp_for: Record<string, boolean>;
  trust_partner_validation: boolean;
  code: { length: number; ttl_s: number };
  limits: Record<string, number>;
  [k: string]: unknown;
}

const DEFAULTS = {
  trust_level: 'strict',
  require_otp_for: { enrollment: true, redemption: true, coupon_usage: true },
  trust_partner_validation: false,
  code: { length: 6, ttl_s: 300 },
  checks: { max_attempts: 5, on_wrong_code: 'retry' },
  limits: { send_per_minute: 3, check_per_minute: 4, resend_cooldown_s: 30, max_sends: 5 },
  lockout: { max_failures: 10, window_s: 3600, duration_s: 1800 },
  channels: ['whatsapp', 'sms', 'email'],
  session: { ttl_s: 1800 },
  access_token: { enabled: false, ttl_s: 7200 },
  allowed_countries: null,
  require_signed_requests: false,
  billing: { enabled: false, low_balance_threshold: '1.0000' },
  otp_enabled: true,
};

/**
 * The documented policy, value for value. API.md allows adding fields, so fields beyond the
 * documented ones are tolerated; the gate (`require_otp_for`) must match exactly.
 */
function expectPolicy(actual: unknown, expected: Record<string, unknown>): void {
  expect(actual).toMatchObject(expected);
  expect((actual as PolicyBody).require_otp_for).toEqual(expected.require_otp_for);
}

async function policyOf(key: string): Promise<PolicyBody> {
  return expectJson<PolicyBody>(await api(runtime().app, key).get('/v1/policy'), 200);
}

describe('GET /v1/policy: channels_available', () => {
  const live = recordingChannels('sms');
  const withSms = useRuntime({ liveChannels: live.registry });

  it('lists, in the policy order, the channels with a provider for a live key, and all of them for a test key', async () => {
    const integration = await createIntegration(withSms().app, { policy: { channels: ['email', 'sms', 'whatsapp'] } });
    const liveAnswer = expectJson<PolicyBody>(await api(withSms().app, integration.liveKey).get('/v1/policy'), 200);
    expect(liveAnswer.channels_available).toEqual(['sms']);
    const testAnswer = expectJson<PolicyBody>(await api(withSms().app, integration.testKey).get('/v1/policy'), 200);
    expect(testAnswer.channels_available).toEqual(['email', 'sms', 'whatsapp']);
  });
});

describe('GET /v1/policy', () => {
  it('answers exactly the documented defaults for a new integration', async () => {
    const integration = await createIntegration(runtime().app);
    const { channels_available: testChannels, ...policy } = await policyOf(integration.testKey);
    expectPolicy(policy, DEFAULTS);
    // Both modes of an integration share its policy; test mode delivers on every channel (the sandbox),
    // live mode only where a provider is configured (none here).
    const { channels_available: liveChannels, ...livePolicy } = await policyOf(integration.liveKey);
    expect(livePolicy).toEqual(policy);
    expect(testChannels).toEqual(['whatsapp', 'sms', 'email']);
    expect(liveChannels).toEqual([]);
    // The operator view shows the same effective policy.
    const created = integration.body as { policy: unknown; trust_level: string };
    expect(created.policy).toEqual(policy);
    expect(created.trust_level).toBe('strict');
  });

  it('reflects the relaxed preset', async () => {
    const integration = await createIntegration(runtime().app, { trust_level: 'relaxed' });
    expectPolicy(await policyOf(integration.testKey), {
      ...DEFAULTS,
      trust_level: 'relaxed',
      require_otp_for: { enrollment: false, redemption: true, coupon_usage: true },
    });
  });

  it('reflects the trusted preset', async () => {
    const integration = await createIntegration(runtime().app, { trust_level: 'trusted' });
    expectPolicy(await policyOf(integration.testKey), {
      ...DEFAULTS,
      trust_level: 'trusted',
      require_otp_for: { enrollment: false, redemption: false, coupon_usage: false },
      trust_partner_validation: true,
    });
  });

  it('merges a partial policy given on create over the preset and defaults', async () => {
    const integration = await createIntegration(runtime().app, { trust_level: 'relaxed', policy: { limits: { max_sends: 2 }, allowed_countries: ['BR', 'PT'] } });
    const policy = await policyOf(integration.testKey);
    expect(policy.limits).toEqual({ ...DEFAULTS.limits, max_sends: 2 });
    expect(policy.allowed_countries).toEqual(['BR', 'PT']);
    expect(policy.trust_level).toBe('relaxed');
  });

  it('merges a partial PATCH: code.length 8 keeps ttl_s 300 and earlier overrides', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { check_per_minute: 9 } } });
    const res = await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy: { code: { length: 8 } } });
    expect(expectJson<{ policy: PolicyBody }>(res, 200).policy.code).toEqual({ length: 8, ttl_s: 300 });
    const policy = await policyOf(integration.testKey);
    expect(policy.code).toEqual({ length: 8, ttl_s: 300 });
    expect(policy.limits).toEqual({ ...DEFAULTS.limits, check_per_minute: 9 });
    // A second PATCH of a sibling keeps the first.
    await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy: { code: { ttl_s: 600 } } });
    expect((await policyOf(integration.testKey)).code).toEqual({ length: 8, ttl_s: 600 });
  });

  it('applies a PATCH to the next send at once', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy: { code: { length: 9 } } });
    const res = await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: '+5511987650001' });
    expect(expectJson<{ code_length: number }>(res, 201).code_length).toBe(9);
  });

  it('reports custom when the gate differs from the preset', async () => {
    const integration = await createIntegration(runtime().app, { policy: { require_otp_for: { change_payout_account: true } } });
    const policy = await policyOf(integration.testKey);
    expect(policy.trust_level).toBe('custom');
    expect(policy.require_otp_for).toEqual({ ...DEFAULTS.require_otp_for, change_payout_account: true });
  });

  const outOfRange: [string, Record<string, unknown>, string][] = [
    ['code.length 3', { code: { length: 3 } }, 'policy.code.length'],
    ['code.length 11', { code: { length: 11 } }, 'policy.code.length'],
    ['code.ttl_s 0', { code: { ttl_s: 0 } }, 'policy.code.ttl_s'],
    ['code.ttl_s 86401', { code: { ttl_s: 86_401 } }, 'policy.code.ttl_s'],
    ['limits.resend_cooldown_s 3601', { limits: { resend_cooldown_s: 3601 } }, 'policy.limits.resend_cooldown_s'],
    ['session.ttl_s 86401', { session: { ttl_s: 86_401 } }, 'policy.session.ttl_s'],
    ['code.length 6.5', { code: { length: 6.5 } }, 'policy.code.length'],
    ['an unknown policy field', { code: { digits: 6 } }, 'policy.code.digits'],
  ];
  for (const [label, policy, field] of outOfRange) {
    it(`refuses ${label} on PATCH and on create with 400 naming ${field}`, async () => {
      const rt = runtime();
      const integration = await createIntegration(rt.app);
      const patched = expectProblem(await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy }), 400, 'validation-error');
      expect(Object.keys(patched.errors ?? {})).toContain(field);
      expectPolicy(await policyOf(integration.testKey), DEFAULTS);

      const created = expectProblem(await admin(rt.app).post('/admin/v1/integrations', { name: 'Bad policy', policy }), 400, 'validation-error');
      expect(Object.keys(created.errors ?? {})).toContain(field);
    });
  }

  it('accepts the range boundaries', async () => {
    const integration = await createIntegration(runtime().app, {
      policy: { code: { length: 10, ttl_s: 86_400 }, limits: { resend_cooldown_s: 0 }, session: { ttl_s: 1 } },
    });
    const policy = await policyOf(integration.testKey);
    expect(policy.code).toEqual({ length: 10, ttl_s: 86_400 });
    expect(policy.limits.resend_cooldown_s).toBe(0);
  });
});
