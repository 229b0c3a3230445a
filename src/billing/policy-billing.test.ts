import { describe, expect, it } from 'vitest';
import { effectivePolicy } from '../domain/policy.js';
import { lowThresholdOf } from './policy-billing.js';

describe('lowThresholdOf', () => {
  const withThreshold = (low_balance_threshold: string) => effectivePolicy('strict', { billing: { low_balance_threshold } });

  it("reads the policy's decimal string into units, up to the schema's twelve integer digits", () => {
    expect(lowThresholdOf(effectivePolicy('strict', {}))).toBe(10_000n); // the default "1.0000"
    expect(lowThresholdOf(withThreshold('0.05'))).toBe(500n);
    expect(lowThresholdOf(withThreshold('0'))).toBe(0n);
    expect(lowThresholdOf(withThreshold('999999999999.9999'))).toBe(9_999_999_999_999_999n);
  });

  it('reads anything the schema would not have stored as 0 (no alert rather than a crash)', () => {
    expect(lowThresholdOf(withThreshold('1.00001'))).toBe(0n);
    expect(lowThresholdOf(withThreshold('-1'))).toBe(0n);
  });
});
