import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FlexibleLimits } from './limits.js';

const rule = { maxFailures: 3, windowS: 3600, durationS: 600 };

describe.each([
  ['memory', () => FlexibleLimits.memory()],
  ['sqlite', () => FlexibleLimits.sqlite(new BetterSqlite3(':memory:'))],
])('FlexibleLimits (%s)', (_name, make) => {
  it('allows `points` events per window and then says how long to wait', async () => {
    const limits = make();
    for (let i = 0; i < 3; i++) expect(await limits.consume('send', 'k', 3, 60)).toEqual({ ok: true });
    const refused = await limits.consume('send', 'k', 3, 60);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.msBeforeNext).toBeGreaterThan(55_000);
    expect(await limits.consume('send', 'other', 3, 60)).toEqual({ ok: true });
    expect(await limits.consume('check', 'k', 3, 60)).toEqual({ ok: true }); // separate counter per name
  });

  it('locks after max failures for the lock duration, and counts afresh after', async () => {
    const limits = make();
    expect(await limits.recordFailure('k', rule)).toEqual({ lockedNow: false });
    expect(await limits.recordFailure('k', rule)).toEqual({ lockedNow: false });
    expect(await limits.lockStatus('k')).toEqual({ locked: false });
    expect(await limits.recordFailure('k', rule)).toEqual({ lockedNow: true });
    const status = await limits.lockStatus('k');
    expect(status.locked).toBe(true);
    if (status.locked) expect(status.msLeft).toBeGreaterThan(590_000);
    expect(await limits.lockStatus('other')).toEqual({ locked: false });
  });

  it('forgets failures on reset', async () => {
    const limits = make();
    await limits.recordFailure('k', rule);
    await limits.recordFailure('k', rule);
    await limits.resetFailures('k');
    expect(await limits.recordFailure('k', rule)).toEqual({ lockedNow: false });
  });
});

it('keeps counts in the SQLite file across limiter instances (a restart)', async () => {
  const db = new BetterSqlite3(':memory:');
  await FlexibleLimits.sqlite(db).consume('send', 'k', 2, 60);
  await FlexibleLimits.sqlite(db).consume('send', 'k', 2, 60);
  expect((await FlexibleLimits.sqlite(db).consume('send', 'k', 2, 60)).ok).toBe(false);
  for (let i = 0; i < 3; i++) await FlexibleLimits.sqlite(db).recordFailure('x', rule);
  expect((await FlexibleLimits.sqlite(db).lockStatus('x')).locked).toBe(true);
});
