import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoRandom } from './clock.js';
import { codeMatches, generateCode, hashCode, hmacKey, seal, sha256Hex, unseal } from './codes.js';

const secret = Buffer.from('a-server-secret-of-enough-length-0123456789');

describe('codes', () => {
  it('generates codes of the asked length, digits only', () => {
    for (let length = 4; length <= 10; length++) expect(generateCode(cryptoRandom, length)).toMatch(new RegExp(`^\\d{${length}}$`));
  });

  it('uses every digit in every position (no bias towards a few values)', () => {
    const seen = Array.from({ length: 6 }, () => new Set<string>());
    for (let i = 0; i < 2000; i++) [...generateCode(cryptoRandom, 6)].forEach((d, pos) => seen[pos]?.add(d));
    for (const digits of seen) expect(digits.size).toBe(10);
  });

  it('matches only the right code for the right verification', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{4,10}$/), fc.stringMatching(/^\d{4,10}$/), (code, other) => {
        const hash = hashCode(secret, 'ver_a', code);
        expect(codeMatches(secret, 'ver_a', code, hash)).toBe(true);
        expect(codeMatches(secret, 'ver_a', other, hash)).toBe(other === code);
        expect(codeMatches(secret, 'ver_b', code, hash)).toBe(false);
      }),
    );
  });

  it('never stores the code in clear: the hash depends on the server secret', () => {
    expect(hashCode(secret, 'ver_a', '123456')).not.toContain('123456');
    expect(hashCode(Buffer.from('another-secret-another-secret-another'), 'ver_a', '123456')).not.toBe(hashCode(secret, 'ver_a', '123456'));
  });

  it('hashes codes as HMAC-SHA256 of "id:code" under the secret, whichever key object computed it before', () => {
    const raw = createHmac('sha256', secret).update('ver_a:123456').digest('hex');
    expect(hashCode(secret, 'ver_a', '123456')).toBe(raw);
    expect(hashCode(secret, 'ver_a', '123456')).toBe(raw); // the cached key object gives the same
    const other = Buffer.from('another-secret-another-secret-another');
    expect(hmacKey(other)).toBe(hmacKey(other)); // made once per buffer
    expect(hashCode(other, 'ver_a', '123456')).toBe(createHmac('sha256', other).update('ver_a:123456').digest('hex'));
  });

  it('SHA-256 hex is the standard digest (FIPS 180-2 test vectors)', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('é')).toBe(createHash('sha256').update('é', 'utf8').digest('hex')); // UTF-8, as before
  });

  it('seals and unseals; a tampered or foreign seal does not open', () => {
    const sealed = seal(secret, cryptoRandom, '482913');
    expect(sealed).not.toContain('482913');
    expect(unseal(secret, sealed)).toBe('482913');
    const [v, iv, body, tag] = sealed.split('.');
    const flipped = `${v}.${iv}.${body?.startsWith('A') ? 'B' : 'A'}${body?.slice(1)}.${tag}`;
    expect(() => unseal(secret, flipped)).toThrow();
    expect(() => unseal(Buffer.from('some-other-secret-some-other-secret'), sealed)).toThrow();
  });
});
