import { describe, expect, it } from 'vitest';
import { cryptoRandom } from '../domain/clock.js';
import { parseIdentifier } from '../domain/identifiers.js';
import { allFictitiousNumbers, FICTITIOUS_COUNTRIES, fictitiousNumber, sandboxEmail } from './inbox-addresses.js';

describe('inbox addresses', () => {
  it('every number of every fictitious range passes otpgate\'s own parse, in its own country', () => {
    for (const country of FICTITIOUS_COUNTRIES) {
      const numbers = allFictitiousNumbers(country);
      expect(numbers.length).toBeGreaterThan(90);
      for (const number of numbers) {
        const parsed = parseIdentifier(number);
        expect(parsed.ok, `${country} ${number}`).toBe(true);
        if (parsed.ok) {
          expect(parsed.identifier.value).toBe(number);
          expect(parsed.identifier.country).toBe(country);
        }
      }
    }
  });

  it('picks within the ranges, and none for a country without one', () => {
    for (const country of FICTITIOUS_COUNTRIES) {
      const all = new Set(allFictitiousNumbers(country));
      for (let i = 0; i < 50; i++) expect(all.has(fictitiousNumber(country, cryptoRandom) as string)).toBe(true);
    }
    // Ends of the blocks are reachable (a random source at its bounds).
    const low = { int: (min: number) => min, bytes: cryptoRandom.bytes };
    const high = { int: (_min: number, max: number) => max - 1, bytes: cryptoRandom.bytes };
    expect(fictitiousNumber('AU', low)).toBe('+61491570006');
    expect(fictitiousNumber('AU', high)).toBe('+61491572665');
    expect(fictitiousNumber('US', low)).toBe('+12015550100');
    expect(fictitiousNumber('BR', cryptoRandom)).toBeNull();
    expect(fictitiousNumber('ZZ', cryptoRandom)).toBeNull();
  });

  it('emails are valid otpgate identifiers at the sandbox domain, and differ', () => {
    const a = sandboxEmail('sandbox.otpgate.test', cryptoRandom);
    const b = sandboxEmail('sandbox.otpgate.test', cryptoRandom);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^inbox-[a-z2-9]{12}@sandbox\.otpgate\.test$/);
    const parsed = parseIdentifier(a);
    expect(parsed.ok && parsed.identifier.kind).toBe('email');
    expect(parsed.ok && parsed.identifier.value).toBe(a);
  });
});
