import type { EffectivePolicy } from '../domain/policy.js';
import { parseMoney } from './money.js';

/** Up to the policy schema's 12 integer digits and 4 decimals. */
const THRESHOLD_MAX = 10n ** 16n;

/** The policy's `billing.low_balance_threshold` in units (the schema admits only valid decimal strings; anything else reads as 0). */
export function lowThresholdOf(policy: EffectivePolicy): bigint {
  const parsed = parseMoney(policy.billing.low_balance_threshold, { allowZero: true, max: THRESHOLD_MAX });
  return parsed.ok ? parsed.units : 0n;
}
