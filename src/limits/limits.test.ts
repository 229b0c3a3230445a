import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openStore, type Store } from '../store/database.js';
import { FlexibleLimits } from './limits.js';

// The embedded store's own set-up: writes under its connection lock, inside its group commit.
const storeDirs: string[] = [];
const stores: Store[] = [];
async function groupCommitLimits(): Promise<{ limits: FlexibleLimits; store: Store; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'otpgate-limits-'));
  storeDirs.push(dir);
  const file = join(dir, 'otpgate.db');
  const store = openStore(`sqlite:${file}`);
  stores.push(store);
  await migrateToLatest(store.db);
  return { limits: FlexibleLimits.sqlite(store.sqlite as BetterSqlite3.Database, store.sqliteDriver ?? undefined), store, file };
}
afterAll(async () => {
  for (const store of stores) await store.close();
  for (const dir of storeDirs) rmSync(dir, { recursive: true, force: true });
});

const rule = { maxFailures: 3, windowS: 3600, durationS: 600 };

describe.each([
  ['memory', () => FlexibleLimits.memory()],
  ['sqlite', () => FlexibleLimits.sqlite(new BetterSqlite3(':memory:'))],
  ['sqlite in the group commit', async () => (await groupCommitLimits()).limits],
])('FlexibleLimits (%s)', (_name, make) => {
  it('allows `points` events per window and then says how long to wait', async () => {
    const limits = await make();
    for (let i = 0; i < 3; i++) expect(await limits.consume('send', 'k', 3, 60)).toEqual({ ok: true });
    const refused = await limits.consume('send', 'k', 3, 60);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.msBeforeNext).toBeGreaterThan(55_000);
    expect(await limits.consume('send', 'other', 3, 60)).toEqual({ ok: true });
    expect(await limits.consume('check', 'k', 3, 60)).toEqual({ ok: true }); // separate counter per name
  });

  it('locks after max failures for the lock duration, and counts afresh after', async () => {
    const limits = await make();
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
    const limits = await make();
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

it('in the group commit: counts are written behind, once per turn, inside the open group transaction, and reach the file with it', async () => {
  const { limits, store, file } = await groupCommitLimits();
  const observer = new BetterSqlite3(file, { readonly: true });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  try {
    const count = (): unknown => observer.prepare("SELECT points FROM rate_limits WHERE key LIKE '%:k'").get();
    const driver = store.sqliteDriver;
    if (!driver) throw new Error('expected the SQLite group-commit driver');
    await limits.consume('send', 'k', 5, 60);
    expect(driver.group.open).toBe(false); // counted in memory: nothing written yet
    await turn();
    expect(driver.group.open).toBe(true); // written inside the group transaction, not committed alone
    expect(count()).toBeUndefined();
    await driver.group.durable();
    expect(count()).toEqual({ points: 1 });
    await Promise.all([limits.consume('send', 'k', 5, 60), limits.consume('send', 'k', 5, 60)]);
    await turn();
    await driver.group.durable();
    expect(count()).toEqual({ points: 3 });
    expect(store.sqlite?.inTransaction).toBe(false);
  } finally {
    observer.close();
  }
});

it('in the group commit: counts and a lockout survive a restart (flushed when the store closes)', async () => {
  const { limits, store, file } = await groupCommitLimits();
  for (let i = 0; i < 2; i++) await limits.consume('send', 'k', 2, 60);
  for (let i = 0; i < 3; i++) await limits.recordFailure('x', rule);
  await limits.flush(); // what the backends' close does before the store closes
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  const reopened = openStore(`sqlite:${file}`);
  stores.push(reopened);
  const again = FlexibleLimits.sqlite(reopened.sqlite as BetterSqlite3.Database, reopened.sqliteDriver ?? undefined);
  expect((await again.consume('send', 'k', 2, 60)).ok).toBe(false);
  expect((await again.consume('send', 'other', 2, 60)).ok).toBe(true);
  expect((await again.lockStatus('x')).locked).toBe(true);
  // More running rows than fit in memory at start: none loaded, each read from the file when needed.
  const small = FlexibleLimits.sqlite(reopened.sqlite as BetterSqlite3.Database, reopened.sqliteDriver ?? undefined, { maxKeys: 2 });
  expect((await small.lockStatus('x')).locked).toBe(true);
  expect((await small.consume('send', 'k', 2, 60)).ok).toBe(false);
});

it('in the group commit: counters forgotten past maxKeys are read back from the file, still counting', async () => {
  const { store } = await groupCommitLimits();
  const limits = FlexibleLimits.sqlite(store.sqlite as BetterSqlite3.Database, store.sqliteDriver ?? undefined, { maxKeys: 100 });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  await limits.consume('send', 'k', 2, 60);
  await turn();
  // 300 other keys push 'k' out of memory (it was written back, so it may be forgotten).
  for (let i = 0; i < 300; i++) {
    await limits.consume('send', `other-${i}`, 2, 60);
    if (i % 50 === 0) await turn();
  }
  await limits.consume('send', 'k', 2, 60);
  expect((await limits.consume('send', 'k', 2, 60)).ok).toBe(false); // the third in the window
  expect((await limits.consume('send', 'other-0', 2, 60)).ok).toBe(true); // its second
});
