import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderCodeMessage, resolveLocale } from '../delivery/templates.js';
import { extractCode } from './extract-code.js';

describe('extractCode', () => {
  it.each([
    ['Your code is 482913.', '482913'],
    ['Seu código: 1234', '1234'],
    ['Code 123-456 expires in 5 minutes', '123456'],
    ['123 456 is your code', '123456'],
    ['no code here', null],
    ['Order of 12 items; code 9876', '9876'],
    ['12 34 56', null],
  ])('%s → %s', (body, code) => {
    expect(extractCode(body)).toBe(code);
  });

  it('finds the code in every message otpgate renders, in every language and length', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{4,10}$/), fc.constantFrom('en', 'pt-BR', 'es', 'id', 'hi', null, 'xx'), fc.integer({ min: 1, max: 86_400 }), (code, locale, ttlS) => {
        const { text } = renderCodeMessage({ code, ttlS, brand: 'Acme 24', locale: resolveLocale(locale, null), channel: 'sms', appDomain: 'example.com' });
        expect(extractCode(text)).toBe(code);
      }),
    );
  });
});
