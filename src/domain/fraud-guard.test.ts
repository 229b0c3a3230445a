import { describe, expect, it } from 'vitest';
import { DEFAULT_FRAUD_LIMITS, evaluateFraud, phonePrefix, type FraudCounts, type FraudLimits } from './fraud-guard.js';

const limits: FraudLimits = { country_sends_per_hour: 1000, prefix_sends_per_hour: 100, conversion_min_sends: 20, conversion_min_rate: 0.1 };

/** Quiet traffic that trips nothing; each test moves one count. */
const quiet: FraudCounts = { countrySends: 10, prefixSends: 1, countryApprovals: 8, prefixApprovals: 1 };
const judge = (counts: Partial<FraudCounts>) => evaluateFraud({ ...quiet, ...counts }, limits);
const ruleOf = (counts: Partial<FraudCounts>): string | null => {
  const verdict = judge(counts);
  return verdict.suspected ? verdict.rule : null;
};

describe('phonePrefix', () => {
  it('drops the last 4 digits', () => {
    expect(phonePrefix('+5511987654321')).toBe('+551198765');
    expect(phonePrefix('+14155552671')).toBe('+1415555');
    expect(phonePrefix('+6831234')).toBe('+683'); // Niue: 4-digit subscriber numbers
  });

  it('puts numbers of one block of 10,000 together, and the next block apart', () => {
    expect(phonePrefix('+5511987650000')).toBe(phonePrefix('+5511987659999'));
    expect(phonePrefix('+5511987660000')).not.toBe(phonePrefix('+5511987659999'));
  });

  it('refuses what is not E.164', () => {
    for (const input of ['5511987654321', '+55 11 98765-4321', '+0511987654321', '+1234', '+1234567890123456', '']) {
      expect(() => phonePrefix(input), input).toThrow(TypeError);
    }
  });
});

describe('evaluateFraud', () => {
  it('suspects nothing in quiet traffic', () => {
    expect(judge({})).toEqual({ suspected: false });
  });

  it('prefix_cap: fires at cap + 1 sends to one range, not at the cap', () => {
    expect(ruleOf({ prefixSends: 100, prefixApprovals: 100, countrySends: 200, countryApprovals: 200 })).toBeNull();
    const verdict = judge({ prefixSends: 101, prefixApprovals: 101, countrySends: 200, countryApprovals: 200 });
    expect(verdict).toEqual({ suspected: true, rule: 'prefix_cap', detail: expect.stringContaining('101') });
    if (verdict.suspected) expect(verdict.detail).toMatch(/number range.*cap of 100/);
  });

  it('country_cap: fires at cap + 1 sends to one country, not at the cap', () => {
    expect(ruleOf({ countrySends: 1000, countryApprovals: 900 })).toBeNull();
    const verdict = judge({ countrySends: 1001, countryApprovals: 900 });
    expect(verdict).toEqual({ suspected: true, rule: 'country_cap', detail: expect.stringContaining('1001') });
    if (verdict.suspected) expect(verdict.detail).toMatch(/country.*cap of 1000/);
  });

  it('prefix_conversion: fires from conversion_min_sends sends with a rate below the minimum', () => {
    // 1 of 20 = 5% < 10%: fires; 2 of 20 = 10% is not below: does not; 0 of 19: too few sends to judge.
    expect(ruleOf({ prefixSends: 20, prefixApprovals: 1, countrySends: 50, countryApprovals: 40 })).toBe('prefix_conversion');
    expect(ruleOf({ prefixSends: 20, prefixApprovals: 2, countrySends: 50, countryApprovals: 40 })).toBeNull();
    expect(ruleOf({ prefixSends: 19, prefixApprovals: 0, countrySends: 50, countryApprovals: 40 })).toBeNull();
    expect(judge({ prefixSends: 20, prefixApprovals: 1, countrySends: 50, countryApprovals: 40 })).toEqual({
      suspected: true,
      rule: 'prefix_conversion',
      detail: '1 of 20 SMS codes sent to this number range in the last hour were approved (5%), below the minimum of 10%.',
    });
  });

  it('country_conversion: fires from conversion_min_sends sends with a rate below the minimum', () => {
    expect(ruleOf({ countrySends: 20, countryApprovals: 1 })).toBe('country_conversion');
    expect(ruleOf({ countrySends: 20, countryApprovals: 2 })).toBeNull();
    expect(ruleOf({ countrySends: 19, countryApprovals: 0 })).toBeNull();
    expect(ruleOf({ countrySends: 500, countryApprovals: 49 })).toBe('country_conversion');
    expect(ruleOf({ countrySends: 500, countryApprovals: 50 })).toBeNull();
  });

  it('follows the limits it is given rather than the defaults', () => {
    const strict: FraudLimits = { country_sends_per_hour: 10, prefix_sends_per_hour: 3, conversion_min_sends: 5, conversion_min_rate: 0.5 };
    const at = (counts: Partial<FraudCounts>) => evaluateFraud({ ...quiet, countrySends: 5, countryApprovals: 5, ...counts }, strict);
    expect(at({ prefixSends: 4, prefixApprovals: 4 })).toMatchObject({ rule: 'prefix_cap' });
    expect(at({ countrySends: 11, countryApprovals: 11 })).toMatchObject({ rule: 'country_cap' });
    expect(at({ countrySends: 6, countryApprovals: 2 })).toMatchObject({ rule: 'country_conversion' });
    expect(at({ countrySends: 6, countryApprovals: 3 })).toEqual({ suspected: false });
  });

  it('reports the range before the country, and a cap before conversion', () => {
    const everything = { countrySends: 5000, countryApprovals: 0, prefixSends: 500, prefixApprovals: 0 };
    expect(ruleOf(everything)).toBe('prefix_cap');
    expect(ruleOf({ ...everything, prefixSends: 100 })).toBe('prefix_conversion');
    expect(ruleOf({ ...everything, prefixSends: 1, prefixApprovals: 1 })).toBe('country_cap');
  });

  it('never puts a phone number in the detail', () => {
    for (const counts of [{ prefixSends: 101 }, { countrySends: 1001 }, { prefixSends: 20, prefixApprovals: 0 }, { countrySends: 20, countryApprovals: 0 }]) {
      const verdict = judge(counts);
      expect(verdict.suspected).toBe(true);
      if (verdict.suspected) expect(verdict.detail).not.toMatch(/\+\d/);
    }
  });

  it('has the documented defaults', () => {
    expect(DEFAULT_FRAUD_LIMITS).toEqual(limits);
    expect(Object.isFrozen(DEFAULT_FRAUD_LIMITS)).toBe(true);
  });
});
