import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { getCountries, getExampleNumber } from 'libphonenumber-js/max';
import mobileExamples from 'libphonenumber-js/examples.mobile.json';
import { isValidCpf, maskIdentifier, parseIdentifier, type Identifier } from './identifiers.js';

function identifierOf(input: string): Identifier {
  const result = parseIdentifier(input);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(input)} to parse, got ${result.error}`);
  return result.identifier;
}
const errorOf = (input: string): string | null => {
  const result = parseIdentifier(input);
  return result.ok ? null : result.error;
};

/** Independent CPF check-digit computation for the property tests. */
function cpfCheckDigit(digits: number[]): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) sum += (digits[i] ?? 0) * (digits.length + 1 - i);
  const remainder = (sum * 10) % 11;
  return remainder === 10 ? 0 : remainder;
}
const withCheckDigits = (base: number[]): string =>
  [...base, cpfCheckDigit(base), cpfCheckDigit([...base, cpfCheckDigit(base)])].join('');

describe('parseIdentifier: phone', () => {
  it('normalises formatted international numbers to E.164 with their country', () => {
    expect(identifierOf('+55 (11) 98765-4321')).toEqual({ kind: 'phone', value: '+5511987654321', country: 'BR', phoneType: 'MOBILE' });
    expect(identifierOf('+1 415 555 2671')).toEqual({ kind: 'phone', value: '+14155552671', country: 'US', phoneType: 'FIXED_LINE_OR_MOBILE' });
    expect(identifierOf(' \t+1.415.555.2671\n').value).toBe('+14155552671');
    // Non-geographic numbers have no country.
    expect(identifierOf('+800 1234 5678')).toEqual({ kind: 'phone', value: '+80012345678', country: null, phoneType: 'TOLL_FREE' });
  });

  it('knows the number types that live sends refuse', () => {
    expect(identifierOf('+44 909 876 5432')?.phoneType).toBe('PREMIUM_RATE');
    expect(identifierOf('+34 901 123 456')?.phoneType).toBe('SHARED_COST');
  });

  it('rejects letters, extensions and other characters', () => {
    const inputs = ['+1 800 FLOWERS', '+55 11 9876a-4321', '+1 415 555 2671 ext 5', '+1/415/555/2671', '++14155552671'];
    expect(inputs.map(errorOf)).toEqual(inputs.map(() => 'invalid_phone'));
  });

  it('rejects numbers that are not valid for their region', () => {
    const inputs = ['+', '+55 11 1234', '+999 1234567', '+1 415 555 26711234', '+1 (000) 555-2671'];
    expect(inputs.map(errorOf)).toEqual(inputs.map(() => 'invalid_phone'));
  });

  it('requires the leading + (an address with @ is an email even when it starts with +)', () => {
    expect(errorOf('5511987654321')).toBe('unrecognized');
    expect(errorOf('(11) 98765-4321')).toBe('unrecognized');
    expect(parseIdentifier('+tag@example.com')).toEqual({ ok: true, identifier: { kind: 'email', value: '+tag@example.com', country: null } });
  });
});

describe('parseIdentifier: email', () => {
  it('trims and lower-cases the domain only', () => {
    expect(identifierOf('  John.Doe@EXAMPLE.com ')).toEqual({ kind: 'email', value: 'John.Doe@example.com', country: null });
    expect(identifierOf("o'Brien+otp@Mail.Example.CO.uk").value).toBe("o'Brien+otp@mail.example.co.uk");
    expect(identifierOf('a@example.xn--p1ai').value).toBe('a@example.xn--p1ai');
  });

  it('rejects malformed addresses', () => {
    const invalid = [
      'john@', '@example.com', 'john@@example.com', 'a@b@example.com', 'john@localhost', 'john..doe@example.com',
      '.john@example.com', 'john.@example.com', 'john doe@example.com', 'john@exa mple.com', 'john@example.c',
      'john@example.123', 'john@-example.com', 'john@example-.com', 'john@example..com', 'john@example.com.',
      'jöhn@example.com', 'john\u0000@example.com', 'john@exämple.com', `${'a'.repeat(65)}@example.com`,
      `john@${'a'.repeat(64)}.com`, 'john@example.xn--',
    ];
    expect(invalid.map(errorOf)).toEqual(invalid.map(() => 'invalid_email'));
  });

  it('accepts 254 characters and refuses 255', () => {
    const domainOf = (lastLabel: number) => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(lastLabel)}.com`;
    const at254 = `${'x'.repeat(64)}@${domainOf(57)}`;
    const at255 = `${'x'.repeat(64)}@${domainOf(58)}`;
    expect([at254.length, at255.length]).toEqual([254, 255]);
    expect(identifierOf(at254).value).toBe(at254);
    expect(errorOf(at255)).toBe('invalid_email');
  });
});

describe('parseIdentifier: cpf', () => {
  it('accepts formatted and bare CPFs, normalised to 11 digits', () => {
    expect(identifierOf('529.982.247-25')).toEqual({ kind: 'cpf', value: '52998224725', country: null });
    expect(identifierOf('52998224725').value).toBe('52998224725');
    expect(identifierOf('123.456.789-09').value).toBe('12345678909');
  });

  it('refuses wrong check digits and all-equal digits', () => {
    const inputs = ['529.982.247-26', '529.982.247-15', '111.111.111-11', '00000000000', '99999999999'];
    expect(inputs.map(errorOf)).toEqual(inputs.map(() => 'invalid_cpf'));
  });

  it('treats other digit shapes as unrecognized', () => {
    const inputs = ['', '   ', 'hello', '1234', '1234567890', '123456789012', '529.982.247/25', '529 982 247 25'];
    expect(inputs.map(errorOf)).toEqual(inputs.map(() => 'unrecognized'));
  });

  it('isValidCpf only takes 11 bare digits', () => {
    expect(isValidCpf('52998224725')).toBe(true);
    const invalid = ['529.982.247-25', '5299822472', '529982247250', '5299822472a', '11111111111'];
    expect(invalid.filter(isValidCpf)).toEqual([]);
  });
});

describe('parseIdentifier: length limit', () => {
  it('rejects more than 320 characters after trimming, before parsing', () => {
    expect(errorOf('a'.repeat(321))).toBe('too_long');
    expect(errorOf(`+${'1'.repeat(320)}`)).toBe('too_long');
    expect(errorOf(`${'x'.repeat(300)}@${'y'.repeat(30)}.com`)).toBe('too_long');
    expect(errorOf('a'.repeat(320))).toBe('unrecognized');
    expect(identifierOf(`  john@example.com${' '.repeat(400)}`).value).toBe('john@example.com');
  });
});

describe('maskIdentifier', () => {
  it('hides most of each kind', () => {
    expect(maskIdentifier(identifierOf('+55 11 98765-4321'))).toBe('+55*******4321');
    expect(maskIdentifier(identifierOf('john@example.com'))).toBe('j***@example.com');
    expect(maskIdentifier(identifierOf('j@example.com'))).toBe('***@example.com');
    expect(maskIdentifier(identifierOf('123.456.789-09'))).toBe('***.***.*89-09');
  });
});

describe('properties', () => {
  // Strings built from the characters the classifier cares about reach the deeper branches.
  const structural = fc.string({ unit: fc.constantFrom(...'+@.-() 0123456789aZ\u00e9\t') });

  it('never throws, and normalised values re-parse to themselves', () => {
    const anyString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), structural);
    fc.assert(
      fc.property(anyString, (input) => {
        const result = parseIdentifier(input);
        if (result.ok) expect(parseIdentifier(result.identifier.value)).toEqual(result);
      }),
      { numRuns: 2000 },
    );
  });

  it('CPFs with correct check digits parse in both forms; a changed check digit does not', () => {
    const base = fc
      .array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 })
      .filter((digits) => new Set(digits).size > 1);
    const tweak = fc.record({ position: fc.constantFrom(9, 10), delta: fc.integer({ min: 1, max: 9 }) });
    fc.assert(
      fc.property(base, tweak, (digits, { position, delta }) => {
        const cpf = withCheckDigits(digits);
        const formatted = `${cpf.slice(0, 3)}.${cpf.slice(3, 6)}.${cpf.slice(6, 9)}-${cpf.slice(9)}`;
        expect(identifierOf(cpf)).toEqual({ kind: 'cpf', value: cpf, country: null });
        expect(identifierOf(formatted)).toEqual(identifierOf(cpf));
        const changed = [...cpf].map((d, i) => (i === position ? String((Number(d) + delta) % 10) : d)).join('');
        expect(errorOf(changed)).toBe('invalid_cpf');
      }),
    );
  });

  it('the case of an email domain does not change the normalised value', () => {
    // A leading '+' would classify the input as a phone (see the classification test).
    const local = fc.stringMatching(/^[A-Za-z0-9!#$%&'*/=?^_`{|}~-][A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{0,19}(\.[a-z0-9_-]{1,9}){0,2}$/);
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const domain = fc
      .tuple(fc.array(label, { minLength: 1, maxLength: 3 }), fc.stringMatching(/^[a-z]{2,6}$/))
      .map(([labels, tld]) => [...labels, tld].join('.'));
    const cased = domain.chain((d) => fc.tuple(fc.constant(d), fc.mixedCase(fc.constant(d))));
    fc.assert(
      fc.property(local, cased, (user, [lower, mixed]) => {
        const expected = { kind: 'email', value: `${user}@${lower}`, country: null };
        expect(identifierOf(`${user}@${lower}`)).toEqual(expected);
        expect(identifierOf(`${user}@${mixed}`)).toEqual(expected);
        expect(identifierOf(`${user}@${lower.toUpperCase()}`)).toEqual(expected);
      }),
    );
  });

  it('formatting a valid E.164 number does not change the normalised value', () => {
    const e164 = getCountries()
      .map((country) => getExampleNumber(country, mobileExamples)?.number)
      .filter((n): n is NonNullable<typeof n> => n !== undefined && parseIdentifier(n).ok);
    const formatted = fc.constantFrom(...e164).chain((number) => {
      const digits = number.slice(1);
      const separators = fc.array(fc.constantFrom('', '', ' ', '-', '.'), { minLength: digits.length, maxLength: digits.length });
      // Optionally bracket one run of digits, e.g. an area code.
      const bracket = fc.option(fc.tuple(fc.nat(digits.length - 1), fc.nat(digits.length - 1)));
      return fc.tuple(fc.constant(number), separators, bracket).map(([n, seps, range]) => {
        const [from, to] = range ? [Math.min(...range), Math.max(...range)] : [-1, -1];
        const parts = [...digits].map((d, i) => `${seps[i]}${i === from ? '(' : ''}${d}${i === to ? ')' : ''}`);
        return { number: n, text: `+${parts.join('')}` };
      });
    });
    expect(e164.length).toBeGreaterThan(200);
    fc.assert(
      fc.property(formatted, ({ number, text }) => {
        expect(identifierOf(text)).toEqual(identifierOf(number));
        expect(identifierOf(text).value).toBe(number);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseIdentifier phone memo', () => {
  it('answers a repeated number with the same frozen result, and still validates new ones', () => {
    const first = parseIdentifier('+55 11 91234-5678');
    const again = parseIdentifier('+55 11 91234-5678');
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(first.ok && Object.isFrozen(first.identifier)).toBe(true);
    expect(first).toEqual({ ok: true, identifier: { kind: 'phone', value: '+5511912345678', country: 'BR', phoneType: 'MOBILE' } });
    expect(parseIdentifier('+55 11 1234')).toEqual({ ok: false, error: 'invalid_phone' });
    expect(parseIdentifier('+55 11 1234')).toEqual({ ok: false, error: 'invalid_phone' });
  });

  it('stays bounded: the oldest entries give way, and answers do not change', () => {
    const numbers = Array.from({ length: 50_500 }, (_, i) => `+55119${String(i).padStart(8, '0')}`);
    const firstAnswer = parseIdentifier(numbers[0] as string);
    for (const n of numbers) parseIdentifier(n);
    const later = parseIdentifier(numbers[0] as string);
    expect(later).not.toBe(firstAnswer); // evicted and parsed again
    expect(later).toEqual(firstAnswer);
  });
});
