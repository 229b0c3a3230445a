import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_AMOUNT_UNITS, MONEY_PATTERN, formatMoney, parseMoney, unitsOf, unitsParam } from './money.js';

describe('money', () => {
  it('parses decimal strings into units of 1/10,000, whatever the number of decimals up to four', () => {
    expect(parseMoney('12')).toEqual({ ok: true, units: 120_000n });
    expect(parseMoney('0.05')).toEqual({ ok: true, units: 500n });
    expect(parseMoney('0.0500')).toEqual({ ok: true, units: 500n });
    expect(parseMoney('0.0001')).toEqual({ ok: true, units: 1n });
    expect(parseMoney('1000000000')).toEqual({ ok: true, units: MAX_AMOUNT_UNITS });
  });

  it('refuses each bad input by name', () => {
    expect(parseMoney('0.00001')).toEqual({ ok: false, error: 'too_precise' });
    expect(parseMoney('-1')).toEqual({ ok: false, error: 'negative' });
    expect(parseMoney('0')).toEqual({ ok: false, error: 'zero' });
    expect(parseMoney('0.0000')).toEqual({ ok: false, error: 'zero' });
    expect(parseMoney('1000000000.0001')).toEqual({ ok: false, error: 'too_large' });
    expect(parseMoney('99999999999999999999')).toEqual({ ok: false, error: 'format' });
    for (const bad of ['', '.5', '1.', '1e3', ' 1', '1 ', '+1', '0x10', '1,5', 'NaN', 'Infinity', '１']) {
      expect(parseMoney(bad), bad).toEqual({ ok: false, error: 'format' });
    }
  });

  it('takes 0 where allowed and a cap of its own', () => {
    expect(parseMoney('0', { allowZero: true })).toEqual({ ok: true, units: 0n });
    expect(parseMoney('5', { max: 40_000n })).toEqual({ ok: false, error: 'too_large' });
  });

  it('formats with exactly four places, negatives included', () => {
    expect(formatMoney(0n)).toBe('0.0000');
    expect(formatMoney(500n)).toBe('0.0500');
    expect(formatMoney(-500n)).toBe('-0.0500');
    expect(formatMoney(123_456_789n)).toBe('12345.6789');
    expect(formatMoney(-10_000n)).toBe('-1.0000');
  });

  it('round-trips every amount up to the cap (format → parse → the same units)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_AMOUNT_UNITS }), (units) => {
        const text = formatMoney(units);
        expect(new RegExp(MONEY_PATTERN).test(text)).toBe(true);
        expect(parseMoney(text)).toEqual({ ok: true, units });
      }),
    );
  });

  it('reads integer columns exactly and refuses to pass an unsafe amount', () => {
    expect(unitsOf(500)).toBe(500n);
    expect(unitsOf('500')).toBe(500n);
    expect(() => unitsOf(0.5)).toThrow();
    expect(unitsParam(-500n)).toBe(-500);
    expect(() => unitsParam(2n ** 60n)).toThrow();
  });
});
