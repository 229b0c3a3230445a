import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoRandom } from './clock.js';
import { idTime, newId } from './ids.js';

describe('newId', () => {
  it('keeps the 22-character base62 shape and reads its time back', () => {
    const id = newId('ver', cryptoRandom, 1_763_000_000_123);
    expect(id).toMatch(/^ver_[0-9A-Za-z]{22}$/);
    expect(idTime(id)).toBe(1_763_000_000_123);
  });

  it('sorts (as bytes, like SQLite and Postgres "C" text) in creation-time order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 62 ** 8 - 2 }), fc.integer({ min: 1, max: 10 ** 9 }), (earlier, gap) => {
        const later = Math.min(earlier + gap, 62 ** 8 - 1);
        const a = newId('obx', cryptoRandom, earlier);
        const b = newId('obx', cryptoRandom, later);
        expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(-1);
        expect(idTime(b)).toBe(later);
      }),
    );
  });

  it('stays unique within one millisecond', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newId('dlv', cryptoRandom, 5)));
    expect(ids.size).toBe(5000);
  });
});
