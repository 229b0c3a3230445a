/**
 * Money: decimal strings with four places in the API (`"0.0500"`), bigint units of 1/10,000 inside.
 * Never a float anywhere: parsing reads the digits, formatting writes them.
 */

/** Units in one currency unit (four decimal places). */
export const UNITS_PER_CURRENCY_UNIT = 10_000n;

/**
 * The largest amount the API takes (a price, a top-up): 1,000,000,000.0000. Balances stay far
 * inside Number's safe range, so the store's integer columns read back exactly on both dialects.
 */
export const MAX_AMOUNT_UNITS = 1_000_000_000n * UNITS_PER_CURRENCY_UNIT;

/** The largest balance a top-up may reach: 100,000,000,000.0000 (10^15 units, under 2^53). */
export const MAX_BALANCE_UNITS = 100_000_000_000n * UNITS_PER_CURRENCY_UNIT;

/** The JSON Schema pattern of a non-negative money string: up to 10 integer digits and 4 decimals. */
export const MONEY_PATTERN = '^\\d{1,10}(\\.\\d{1,4})?$';

export type MoneyError = 'format' | 'too_precise' | 'negative' | 'zero' | 'too_large';

export interface ParseOptions {
  /** Accept `0` (a free price); top-ups refuse it. */
  allowZero?: boolean;
  /** The cap (default MAX_AMOUNT_UNITS). */
  max?: bigint;
}

/**
 * Parses a non-negative decimal string (`"12"`, `"0.05"`, `"0.0500"`) into units. More than four
 * decimals, a sign, exponents, spaces, a leading `.` and amounts over the cap are refused by name.
 */
export function parseMoney(text: string, options: ParseOptions = {}): { ok: true; units: bigint } | { ok: false; error: MoneyError } {
  if (text.startsWith('-')) return { ok: false, error: 'negative' };
  const match = /^(\d{1,16})(?:\.(\d+))?$/.exec(text);
  if (!match) return { ok: false, error: 'format' };
  const whole = match[1] as string;
  const fraction = match[2] ?? '';
  if (fraction.length > 4) return { ok: false, error: 'too_precise' };
  const units = BigInt(whole) * UNITS_PER_CURRENCY_UNIT + BigInt(fraction.padEnd(4, '0'));
  if (units > (options.max ?? MAX_AMOUNT_UNITS)) return { ok: false, error: 'too_large' };
  if (units === 0n && !options.allowZero) return { ok: false, error: 'zero' };
  return { ok: true, units };
}

/** Formats units as a decimal string with exactly four places (`500n` → `"0.0500"`, `-500n` → `"-0.0500"`). */
export function formatMoney(units: bigint): string {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const whole = abs / UNITS_PER_CURRENCY_UNIT;
  const fraction = (abs % UNITS_PER_CURRENCY_UNIT).toString().padStart(4, '0');
  return `${negative ? '-' : ''}${whole.toString()}.${fraction}`;
}

/** Units read from an integer column (a number on both dialects: see store/database.ts) or a string. */
export function unitsOf(value: number | string | bigint): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new Error('a money column holds a non-integer');
  return BigInt(value);
}

/** Units as the number a query parameter takes; only amounts inside Number's safe range exist (see the caps above). */
export function unitsParam(units: bigint): number {
  const n = Number(units);
  if (!Number.isSafeInteger(n)) throw new Error('a money amount outside the safe range');
  return n;
}
