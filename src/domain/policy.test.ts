import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ajv } from 'ajv';
import {
  DEFAULT_POLICY,
  TRUST_LEVELS,
  effectivePolicy,
  mergePolicyPatch,
  presetFor,
  requiresOtp,
  type PolicyPatch,
  type TrustLevel,
} from './policy.js';
import { EffectivePolicySchema, PolicyPatchSchema, TrustLevelSchema } from './policy-schema.js';

const ajv = new Ajv({ strict: true, allErrors: true });
const validatePatch = ajv.compile(PolicyPatchSchema);
const validateEffective = ajv.compile(EffectivePolicySchema);
const validateLevel = ajv.compile(TrustLevelSchema);

const ACTIONS = ['enrollment', 'redemption', 'coupon_usage'] as const;

describe('defaults', () => {
  it('are exactly the documented ones', () => {
    expect(effectivePolicy('strict', {})).toEqual({
      trust_level: 'strict',
      require_otp_for: { enrollment: true, redemption: true, coupon_usage: true },
      trust_partner_validation: false,
      code: { length: 6, ttl_s: 300 },
      checks: { max_attempts: 5, on_wrong_code: 'retry' },
      limits: { send_per_minute: 3, check_per_minute: 4, resend_cooldown_s: 30, max_sends: 5 },
      lockout: { max_failures: 10, window_s: 3600, duration_s: 1800 },
      channels: ['whatsapp', 'sms', 'email'],
      session: { ttl_s: 1800 },
      access_token: { enabled: false, ttl_s: 7200, scopes: [] },
      allowed_countries: null,
      require_signed_requests: false,
      billing: { enabled: false, low_balance_threshold: '1.0000' },
      otp_enabled: true,
      delivery: { fallback_after_s: null, app_domain: null, android_app_hash: null },
      fraud_guard: 'monitor',
      fraud_limits: { country_sends_per_hour: 1000, prefix_sends_per_hour: 100, conversion_min_sends: 20, conversion_min_rate: 0.1 },
    });
    const { trust_level: _level, ...rest } = effectivePolicy('strict', {});
    expect(DEFAULT_POLICY).toEqual(rest);
    expect(TRUST_LEVELS).toEqual(['strict', 'relaxed', 'trusted']);
  });

  it('are frozen and never shared with results', () => {
    expect(Object.isFrozen(DEFAULT_POLICY.channels)).toBe(true);
    const p = effectivePolicy('strict', {});
    p.channels.push('sms');
    p.code.length = 9;
    expect(effectivePolicy('strict', {}).channels).toEqual(['whatsapp', 'sms', 'email']);
    expect(DEFAULT_POLICY.code.length).toBe(6);
  });

  it('validate against EffectivePolicySchema for every level', () => {
    for (const level of TRUST_LEVELS) expect(validateEffective(effectivePolicy(level, {}))).toBe(true);
  });
});

describe('presets', () => {
  const expected: Record<TrustLevel, [boolean, boolean, boolean, boolean]> = {
    strict: [true, true, true, false],
    relaxed: [false, true, true, false],
    trusted: [false, false, false, true],
  };
  for (const level of TRUST_LEVELS) {
    for (const [i, action] of ACTIONS.entries()) {
      it(`${level}: ${action} ${expected[level][i] ? 'needs' : 'does not need'} OTP`, () => {
        const policy = effectivePolicy(level, {});
        expect(policy.trust_level).toBe(level);
        expect(requiresOtp(policy, action)).toBe(expected[level][i]);
        expect(presetFor(level).require_otp_for[action]).toBe(expected[level][i]);
      });
    }
    it(`${level}: trust_partner_validation`, () => {
      expect(effectivePolicy(level, {}).trust_partner_validation).toBe(expected[level][3]);
    });
  }

  it('presetFor returns a fresh copy', () => {
    presetFor('strict').require_otp_for.enrollment = false;
    expect(presetFor('strict').require_otp_for.enrollment).toBe(true);
  });
});

describe('effectivePolicy', () => {
  it('keeps untouched defaults on a partial merge', () => {
    const p = effectivePolicy('relaxed', { code: { length: 8 }, limits: { max_sends: 2 } });
    expect(p.code).toEqual({ length: 8, ttl_s: 300 });
    expect(p.limits).toEqual({ send_per_minute: 3, check_per_minute: 4, resend_cooldown_s: 30, max_sends: 2 });
    expect(p.session).toEqual({ ttl_s: 1800 });
    expect(p.trust_level).toBe('relaxed');
  });

  it('replaces arrays and accepts null allowed_countries', () => {
    expect(effectivePolicy('strict', { channels: ['sms'] }).channels).toEqual(['sms']);
    const br = effectivePolicy('strict', { allowed_countries: ['BR', 'PT'] });
    expect(br.allowed_countries).toEqual(['BR', 'PT']);
    const merged = mergePolicyPatch({ allowed_countries: ['BR'] }, { allowed_countries: null });
    expect(effectivePolicy('strict', merged).allowed_countries).toBeNull();
  });

  it('reports custom for a custom gated action, and gates it', () => {
    const p = effectivePolicy('trusted', { require_otp_for: { change_payout_account: true } });
    expect(p.trust_level).toBe('custom');
    expect(requiresOtp(p, 'change_payout_account')).toBe(true);
    expect(requiresOtp(p, 'redemption')).toBe(false);
    expect(p.require_otp_for).toEqual({
      enrollment: false,
      redemption: false,
      coupon_usage: false,
      change_payout_account: true,
    });
  });

  it('reports custom when a preset action or partner trust changes, not for no-op overrides', () => {
    expect(effectivePolicy('strict', { require_otp_for: { enrollment: false } }).trust_level).toBe('custom');
    expect(effectivePolicy('relaxed', { trust_partner_validation: true }).trust_level).toBe('custom');
    expect(effectivePolicy('strict', { require_otp_for: { enrollment: true } }).trust_level).toBe('strict');
    expect(effectivePolicy('trusted', { code: { length: 4 }, otp_enabled: false }).trust_level).toBe('trusted');
  });

  it('does not gate unlisted actions (including Object.prototype names)', () => {
    const p = effectivePolicy('strict', {});
    for (const action of ['transfer', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(requiresOtp(p, action)).toBe(false);
    }
  });

  it('does not mutate the overrides', () => {
    const overrides: PolicyPatch = { require_otp_for: { x: true }, code: { length: 7 } };
    const snapshot = structuredClone(overrides);
    const p = effectivePolicy('strict', overrides);
    p.require_otp_for.y = true;
    expect(overrides).toEqual(snapshot);
  });
});

// Arbitraries for patches (shape-valid, values from small pools so keys overlap).
const actionKey = fc.constantFrom('enrollment', 'redemption', 'coupon_usage', 'pay', 'withdraw');
const patchArb: fc.Arbitrary<PolicyPatch> = fc.record(
  {
    require_otp_for: fc.dictionary(actionKey, fc.boolean()),
    trust_partner_validation: fc.boolean(),
    code: fc.record({ length: fc.integer({ min: 4, max: 10 }), ttl_s: fc.integer({ min: 1, max: 86_400 }) }, { requiredKeys: [] }),
    limits: fc.record({ max_sends: fc.integer({ min: 1, max: 100 }), resend_cooldown_s: fc.nat(3_600) }, { requiredKeys: [] }),
    channels: fc.uniqueArray(fc.constantFrom('whatsapp' as const, 'sms' as const, 'email' as const), { minLength: 1 }),
    allowed_countries: fc.option(fc.uniqueArray(fc.constantFrom('BR', 'PT', 'US'), { minLength: 1 }), { nil: null }),
    otp_enabled: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe('mergePolicyPatch (properties)', () => {
  it('never mutates its inputs and returns a new object', () => {
    fc.assert(
      fc.property(patchArb, patchArb, (a, b) => {
        const [sa, sb] = [structuredClone(a), structuredClone(b)];
        const out = mergePolicyPatch(a, b);
        expect(a).toEqual(sa);
        expect(b).toEqual(sb);
        expect(out).not.toBe(a);
        expect(out).not.toBe(b);
      }),
    );
  });

  it('is associative, and commutative for disjoint patches', () => {
    fc.assert(
      fc.property(patchArb, patchArb, patchArb, (a, b, c) => {
        expect(mergePolicyPatch(mergePolicyPatch(a, b), c)).toEqual(mergePolicyPatch(a, mergePolicyPatch(b, c)));
        const bDisjoint = Object.fromEntries(Object.entries(b).filter(([k]) => !(k in a))) as PolicyPatch;
        expect(mergePolicyPatch(a, bDisjoint)).toEqual(mergePolicyPatch(bDisjoint, a));
      }),
    );
  });

  it('last write wins per leaf; arrays and null replace; empty patch is identity', () => {
    fc.assert(
      fc.property(patchArb, patchArb, (a, b) => {
        const out = mergePolicyPatch(a, b);
        expect(mergePolicyPatch(a, {})).toEqual(a);
        if (b.channels) expect(out.channels).toEqual(b.channels);
        if (b.allowed_countries !== undefined) expect(out.allowed_countries).toEqual(b.allowed_countries);
        for (const [k, v] of Object.entries(b.require_otp_for ?? {})) expect(out.require_otp_for?.[k]).toBe(v);
        for (const [k, v] of Object.entries(a.require_otp_for ?? {})) {
          if (!b.require_otp_for || !(k in b.require_otp_for)) expect(out.require_otp_for?.[k]).toBe(v);
        }
        if (a.code?.ttl_s !== undefined && b.code?.ttl_s === undefined) expect(out.code?.ttl_s).toBe(a.code.ttl_s);
      }),
    );
  });

  it('effective policies of generated patches validate against the schemas', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TRUST_LEVELS), patchArb, (level, patch) => {
        expect(validatePatch(patch)).toBe(true);
        expect(validateEffective(effectivePolicy(level, patch))).toBe(true);
      }),
    );
  });
});

describe('schemas', () => {
  it('TrustLevelSchema accepts the three levels only', () => {
    for (const level of TRUST_LEVELS) expect(validateLevel(level)).toBe(true);
    expect(validateLevel('custom')).toBe(false);
  });

  it('accepts valid patches', () => {
    const valid: PolicyPatch[] = [
      {}, { code: { length: 4 }, session: { ttl_s: 86_400 }, limits: { resend_cooldown_s: 0 } },
      { limits: { send_per_minute: 1_000_000, check_per_minute: 1_000_000 } }, { allowed_countries: null },
      { allowed_countries: ['BR'] }, { channels: ['email', 'sms'] },
      { require_otp_for: { change_payout_account: true, enrollment: false } },
      { billing: { enabled: true, low_balance_threshold: '10' } },
      { billing: { low_balance_threshold: '123456789012.1234' } },
      { access_token: { enabled: true, ttl_s: 60 }, checks: { on_wrong_code: 'restart', max_attempts: 100 } },
      { lockout: { max_failures: 1, window_s: 604_800, duration_s: 604_800 } },
    ];
    for (const patch of valid) expect(validatePatch(patch), JSON.stringify(validatePatch.errors)).toBe(true);
  });

  it('rejects out-of-range values and unknown fields', () => {
    const invalid: unknown[] = [
      { code: { length: 3 } }, { code: { length: 11 } }, { code: { ttl_s: 0 } }, { code: { ttl_s: 86_401 } },
      { code: { ttl_s: 1.5 } }, { session: { ttl_s: 86_401 } }, { limits: { resend_cooldown_s: -1 } },
      { limits: { resend_cooldown_s: 3_601 } }, { limits: { send_per_minute: 0 } }, { limits: { max_sends: 101 } },
      { checks: { max_attempts: 0 } }, { checks: { on_wrong_code: 'ignore' } }, { lockout: { window_s: 604_801 } },
      { access_token: { ttl_s: 59 } }, { channels: [] }, { channels: ['sms', 'sms'] }, { channels: ['pigeon'] },
      { allowed_countries: [] }, { allowed_countries: ['br'] }, { allowed_countries: ['BRA'] },
      { allowed_countries: ['BR', 'BR'] }, { billing: { low_balance_threshold: '1.00000' } },
      { billing: { low_balance_threshold: '-1' } }, { billing: { low_balance_threshold: 1 } },
      { require_otp_for: { 'Bad-Key': true } }, { require_otp_for: { ok: 'yes' } },
      { require_otp_for: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`a${i}`, true])) }, { unknown: 1 },
      { code: { length: 6, extra: true } }, { trust_level: 'strict' }, { otp_enabled: 'true' },
    ];
    for (const patch of invalid) expect(validatePatch(patch), JSON.stringify(patch)).toBe(false);
  });

  it('EffectivePolicySchema requires the full shape and allows custom', () => {
    const full = effectivePolicy('strict', { require_otp_for: { x: true } });
    expect(validateEffective(full)).toBe(true);
    const { code: _code, ...missing } = full;
    expect(validateEffective(missing)).toBe(false);
    expect(validateEffective({ ...full, code: { length: 6 } })).toBe(false);
    expect(validateEffective({ ...full, extra: 1 })).toBe(false);
  });
});
