import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { frozenClock } from '../helpers/clock.js';
import { startRuntime, type TestRuntime } from '../helpers/runtime.js';

/** What the replay-guard suites share: a store for the guards, and each test's own clock. */
export const TTL = 600_000;
export const START = Date.UTC(2026, 5, 1);
export const logger = pino({ level: 'silent' });

/** The store the guards write to (the runtime itself serves no request here, and its clock never moves). */
export let rt: TestRuntime;
/** Each test's own clock, at START; the guards under test read it. */
export let clock: ManualClock;

/**
 * Registers the suite's hooks (call once at the top of the test file): the runtime for the file, and
 * before each test a fresh clock at START and an empty signature_replays table (the records earlier
 * tests left expire by where those tests moved their clocks).
 */
export function useReplayStore(): void {
  beforeAll(async () => {
    rt = await startRuntime({ clock: frozenClock(START) });
  });
  afterAll(async () => {
    await rt.dispose();
  });
  beforeEach(async () => {
    clock = new ManualClock(START);
    await rt.store.db.withTables<{ signature_replays: { key: string } }>().deleteFrom('signature_replays').execute();
  });
}

export const uniqueKey = (): string => `int_test:${randomBytes(32).toString('hex')}`;
