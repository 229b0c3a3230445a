import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalIdentifier, parseIdentifier } from './identifiers.js';

const canonicalOf = (input: string): string => {
  const parsed = parseIdentifier(input);
  if (!parsed.ok) throw new Error(`not an identifier: ${input}`);
  return canonicalIdentifier(parsed.identifier.value);
};

describe('canonicalIdentifier', () => {
  it('case-folds the local part and drops a +tag', () => {
    expect(canonicalOf('Victim+x@Example.com')).toBe('victim@example.com');
    expect(canonicalOf('VICTIM@example.com')).toBe('victim@example.com');
    expect(canonicalOf('victim+a+b@example.com')).toBe('victim@example.com');
    expect(canonicalOf('John.Doe+news@EXAMPLE.com')).toBe('john.doe@example.com');
  });

  it('keeps what names another mailbox: dots, other domains, a leading +', () => {
    expect(canonicalOf('john.doe@example.com')).not.toBe(canonicalOf('johndoe@example.com'));
    expect(canonicalOf('victim@example.com')).not.toBe(canonicalOf('victim@example.net'));
    expect(canonicalOf('+tag@example.com')).toBe('+tag@example.com');
    expect(canonicalOf('+Tag+x@example.com')).toBe('+tag@example.com');
  });

  it('is the value itself for phones and CPFs', () => {
    expect(canonicalOf('+55 (11) 98765-4321')).toBe('+5511987654321');
    expect(canonicalOf('529.982.247-25')).toBe('52998224725');
  });

  it('leaves the parsed identifier (the address delivered to) as given', () => {
    const parsed = parseIdentifier('Victim+x@Example.com');
    expect(parsed.ok && parsed.identifier.value).toBe('Victim+x@example.com');
  });

  it('is idempotent and ignores case and tags for any valid address', () => {
    const atext = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    fc.assert(
      fc.property(atext, fc.option(atext, { nil: undefined }), (name, tag) => {
        const spelt = canonicalOf(`${name}${tag === undefined ? '' : `+${tag}`}@Example.com`);
        expect(canonicalIdentifier(spelt)).toBe(spelt);
        expect(spelt).toBe(canonicalOf(`${name.toUpperCase()}@example.com`));
      }),
    );
  });
});
