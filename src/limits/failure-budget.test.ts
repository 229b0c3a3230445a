import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FlexibleLimits } from './limits.js';

const rule = { maxFailures: 3, windowS: 3600, durationS: 600 };

describe.each([
  ['memory', () => FlexibleLimits.memory()],
  ['sqlite', () => FlexibleLimits.sqlite(new BetterSqlite3(':memory:'))],
])('failure budget (%s)', (_name, make) => {
  it('reserves at most maxFailures at once, marks the last, and refuses the rest', async () => {
    const limits = make();
    const results = await Promise.all(Array.from({ length: 10 }, () => limits.reserveFailure('k', rule)));
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => r.ok && r.last)).toHaveLength(1);
    expect(await limits.failureRoom('k', rule)).toBe(false);
    expect(await limits.failureRoom('other', rule)).toBe(true);
  });

  it('gives a reservation back', async () => {
    const limits = make();
    await limits.reserveFailure('k', rule);
    await limits.reserveFailure('k', rule);
    await limits.releaseFailure('k', rule);
    expect(await limits.reserveFailure('k', rule)).toEqual({ ok: true, last: false });
    expect(await limits.reserveFailure('k', rule)).toEqual({ ok: true, last: true });
  });

  it('locks for durationS and keeps the budget spent meanwhile; a reset does not lift the lock', async () => {
    const limits = make();
    for (let i = 0; i < 3; i++) await limits.reserveFailure('k', rule);
    await limits.lock('k', rule);
    const status = await limits.lockStatus('k');
    expect(status.locked).toBe(true);
    if (status.locked) expect(status.msLeft).toBeGreaterThan(590_000);
    expect(await limits.reserveFailure('k', rule)).toEqual({ ok: false });
    expect(await limits.failureRoom('k', rule)).toBe(false);
    await limits.resetFailures('k');
    expect((await limits.lockStatus('k')).locked).toBe(true);
  });
});
