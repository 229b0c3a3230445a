import { describe, expect, it } from 'vitest';
import { MemoryCounters } from './memory-counters.js';

describe('MemoryCounters', () => {
  it('counts per name and key within a window that starts at the first count', async () => {
    let now = 1_000_000;
    const counters = new MemoryCounters(() => now);
    expect(await counters.tally('sends', 'BR', 60)).toBe(1);
    expect(await counters.tally('sends', 'BR', 60)).toBe(2);
    expect(await counters.tally('sends', 'IN', 60)).toBe(1);
    expect(await counters.tally('approvals', 'BR', 60)).toBe(1);
    expect(await counters.peek('sends', 'BR', 60)).toBe(2);
    expect(await counters.peek('sends', 'US', 60)).toBe(0);
    now += 59_999;
    expect(await counters.tally('sends', 'BR', 60)).toBe(3);
    now += 1; // the window of the first count ends
    expect(await counters.peek('sends', 'BR', 60)).toBe(0);
    expect(await counters.tally('sends', 'BR', 60)).toBe(1);
  });

  it('stays within its bound: expired windows go first, then the oldest', async () => {
    let now = 0;
    const counters = new MemoryCounters(() => now, 100);
    for (let i = 0; i < 100; i++) await counters.tally('p', String(i), 10);
    now = 5_000;
    for (let i = 100; i < 150; i++) await counters.tally('p', String(i), 1); // short windows
    expect(counters.size).toBeLessThanOrEqual(100);
    now = 7_000; // the short windows have ended; the first ones run until 10 s
    for (let i = 150; i < 400; i++) await counters.tally('p', String(i), 3600);
    expect(counters.size).toBeLessThanOrEqual(100);
    expect(await counters.peek('p', '399', 3600)).toBe(1); // the newest are kept
    expect(await counters.peek('p', '0', 10)).toBe(0); // the oldest were dropped
  });
});
