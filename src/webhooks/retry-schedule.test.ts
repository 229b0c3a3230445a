import { describe, expect, it } from 'vitest';
import type { Random } from '../domain/clock.js';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, nextRetryDelay, parseRetryAfter } from './retry-schedule.js';

const fixed = (value: number): Random => ({ int: (min, max) => Math.min(max - 1, Math.max(min, value)), bytes: (n) => Buffer.alloc(n) });

describe('nextRetryDelay', () => {
  it('follows API.md: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, then none (ten attempts)', () => {
    const middle = fixed(1000); // no jitter
    const hour = 3_600_000;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => nextRetryDelay(n, middle))).toEqual([5_000, 300_000, 1_800_000, 2 * hour, 5 * hour, 10 * hour, 14 * hour, 20 * hour, 24 * hour]);
    expect(nextRetryDelay(10, middle)).toBeNull();
    expect(MAX_ATTEMPTS).toBe(10);
  });

  it('jitters by ±10 %', () => {
    expect(nextRetryDelay(1, fixed(0))).toBe(4_500);
    expect(nextRetryDelay(1, fixed(2000))).toBe(5_500);
    for (const [i, step] of RETRY_DELAYS_MS.entries()) {
      for (const r of [0, 500, 1500, 2000]) {
        const d = nextRetryDelay(i + 1, fixed(r)) as number;
        expect(d).toBeGreaterThanOrEqual(step * 0.9);
        expect(d).toBeLessThanOrEqual(step * 1.1);
      }
    }
  });

  it("waits at least the receiver's Retry-After, capped at 24 h", () => {
    expect(nextRetryDelay(1, fixed(1000), 60_000)).toBe(60_000);
    expect(nextRetryDelay(2, fixed(1000), 60_000)).toBe(300_000);
    expect(nextRetryDelay(1, fixed(1000), 10 * 86_400_000)).toBe(86_400_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it('reads seconds and HTTP dates; ignores what it cannot read', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(['30'], now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
  });
});
