/**
 * SMS-pumping (artificially inflated traffic) rules: a fraudster makes the gateway send codes to
 * premium or colluding numbers — usually walking through a number range of one country — and is
 * paid per message, never entering a code. Two signals give it away: volume concentrated on a
 * country or a range, and codes that are almost never approved.
 *
 * Pure module: no I/O, no clock. The caller keeps the hourly counts and acts on the verdict.
 */

export interface FraudLimits {
  /** Most SMS sends to one country in an hour. */
  country_sends_per_hour: number;
  /** Most SMS sends to one number range ({@link phonePrefix}) in an hour. */
  prefix_sends_per_hour: number;
  /** Sends in the hour before the conversion rules may judge a country or range. */
  conversion_min_sends: number;
  /** Lowest acceptable approvals / sends in the hour (0–1). */
  conversion_min_rate: number;
}

/**
 * Defaults for a mid-sized deployment; operators with more traffic in one country raise the caps.
 * - 1,000 sends/hour to one country: well above the sign-up peak of most single services, yet it
 *   bounds the bill of an attack on one expensive destination to an hour of that volume.
 * - 100 sends/hour to one range of 10,000 numbers: real users are spread across ranges, so even a
 *   busy service rarely sends a handful of codes per range per hour; pumping walks a range fast.
 * - 20 sends before judging conversion: a small sample of abandoned flows, or approvals lagging a
 *   burst of sends by a minute, must not trip it.
 * - 10% minimum conversion: genuine OTP traffic is approved well over half the time, pumped traffic
 *   almost never, so 10% leaves a wide margin for poor delivery on either side.
 */
export const DEFAULT_FRAUD_LIMITS: Readonly<FraudLimits> = Object.freeze({
  country_sends_per_hour: 1000,
  prefix_sends_per_hour: 100,
  conversion_min_sends: 20,
  conversion_min_rate: 0.1,
});

export type FraudRule = 'country_cap' | 'prefix_cap' | 'country_conversion' | 'prefix_conversion';

export interface FraudCounts {
  /** Sends in the last hour, including the send being judged. */
  countrySends: number;
  prefixSends: number;
  /** Approved verifications in the last hour. */
  countryApprovals: number;
  prefixApprovals: number;
}

export type FraudVerdict = { suspected: false } | { suspected: true; rule: FraudRule; detail: string };

const E164 = /^\+[1-9]\d{4,14}$/;

/**
 * The number range of an E.164 number: the number without its last 4 digits
 * (`+5511987654321` → `+551198765`), the block of 10,000 numbers pumping attacks walk through.
 * Throws a TypeError for anything but `+` and 5–15 digits.
 */
export function phonePrefix(e164: string): string {
  if (typeof e164 !== 'string' || !E164.test(e164)) throw new TypeError('expected an E.164 phone number');
  return e164.slice(0, -4);
}

const SCOPES = { country: 'this country', prefix: 'this number range' } as const;

function percent(rate: number): string {
  return `${Number((rate * 100).toFixed(1))}%`;
}

function capExceeded(scope: keyof typeof SCOPES, sends: number, cap: number): FraudVerdict | null {
  if (!(sends > cap)) return null;
  return {
    suspected: true,
    rule: `${scope}_cap`,
    detail: `${sends} SMS sends to ${SCOPES[scope]} in the last hour exceed the cap of ${cap} per hour.`,
  };
}

function conversionTooLow(scope: keyof typeof SCOPES, sends: number, approvals: number, limits: FraudLimits): FraudVerdict | null {
  // `approvals < rate × sends` rather than a division: no 0/0 when sends is 0.
  if (!(sends >= limits.conversion_min_sends && approvals < limits.conversion_min_rate * sends)) return null;
  return {
    suspected: true,
    rule: `${scope}_conversion`,
    detail:
      `${approvals} of ${sends} SMS codes sent to ${SCOPES[scope]} in the last hour were approved ` +
      `(${percent(approvals / sends)}), below the minimum of ${percent(limits.conversion_min_rate)}.`,
  };
}

/**
 * Judges one SMS send against the pumping rules. Caps: more sends in the hour than the cap (so
 * the (cap + 1)-th send is the first suspected). Conversion: at least `conversion_min_sends` sends
 * in the hour and approvals / sends below `conversion_min_rate`. The number range is checked
 * before the country (the narrower finding), a cap before conversion.
 */
export function evaluateFraud(counts: FraudCounts, limits: FraudLimits): FraudVerdict {
  return (
    capExceeded('prefix', counts.prefixSends, limits.prefix_sends_per_hour) ??
    conversionTooLow('prefix', counts.prefixSends, counts.prefixApprovals, limits) ??
    capExceeded('country', counts.countrySends, limits.country_sends_per_hour) ??
    conversionTooLow('country', counts.countrySends, counts.countryApprovals, limits) ?? { suspected: false }
  );
}
