import { describe, expect, it } from 'vitest';
import { ManualClock, cryptoRandom, toIso } from './clock.js';
import { base62, newId } from './ids.js';

describe('cryptoRandom.bytes (pooled)', () => {
  it('returns the asked length, never the same bytes twice, and copies that later calls do not touch', () => {
    const first = cryptoRandom.bytes(32);
    const kept = Buffer.from(first);
    const seen = new Set<string>([first.toString('hex')]);
    for (let i = 0; i < 2000; i++) {
      const b = cryptoRandom.bytes(1 + (i % 64)); // crosses many pool refills
      expect(b.length).toBe(1 + (i % 64));
      if (b.length >= 16) seen.add(b.toString('hex'));
    }
    expect(first.equals(kept)).toBe(true);
    expect(seen.size).toBeGreaterThan(1000);
    expect(cryptoRandom.bytes(1024).length).toBe(1024); // large requests bypass the pool
  });

  it('feeds unique, well-formed ids', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newId('ver', cryptoRandom)));
    expect(ids.size).toBe(5000);
    for (const id of [...ids].slice(0, 50)) expect(id).toMatch(/^ver_[0-9A-Za-z]{22}$/);
    expect(base62(cryptoRandom, 43)).toMatch(/^[0-9A-Za-z]{43}$/);
  });
});

describe('ManualClock', () => {
  it('moves only when told', () => {
    const clock = new ManualClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(500);
    expect(clock.now()).toBe(1500);
    clock.set(42);
    expect(clock.now()).toBe(42);
  });
});

describe('toIso', () => {
  it('formats like Date#toISOString, also across the memo filling up and clearing', () => {
    for (let i = 0; i < 1500; i++) {
      const ms = 1_763_000_000_000 + i * 37;
      expect(toIso(ms)).toBe(new Date(ms).toISOString());
      expect(toIso(ms)).toBe(new Date(ms).toISOString());
    }
    expect(() => toIso(Number.NaN)).toThrow(RangeError);
  });

  it('formats instants of one second and around it, before 1970 and with six-digit years, like Date#toISOString', () => {
    const second = 1_763_000_123_000;
    const instants = [second, second + 1, second + 9, second + 10, second + 99, second + 100, second + 999, second + 1000, second - 1, -1, -1000, -999, 0, 999, 253_402_300_800_000, 253_402_300_800_123, -62_198_755_200_001, 1.5];
    for (const ms of [...instants, ...instants]) expect(toIso(ms)).toBe(new Date(ms).toISOString()); // twice: once remembered
    expect(() => toIso(8.64e15 + 1)).toThrow(RangeError);
  });
});
