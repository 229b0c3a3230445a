import { onTestFinished } from 'vitest';
import { ManualClock, type Clock } from '../../src/domain/clock.js';
import { startRuntime, type TestRuntime } from './runtime.js';

/**
 * Time in tests (issue 10 item 16): a test never shares a clock it can move with another test, or
 * what one test sees depends on which tests ran before it.
 *
 * - A test that moves time builds its own `ManualClock`, in the test, in `beforeEach`, or through a
 *   fixture such as `runtimeWithClock` (a fresh clock and a runtime on it, disposed when the test ends).
 * - A runtime shared by the tests of a file (built in `beforeAll`, e.g. `useRuntime`) runs on a
 *   `frozenClock`: it has no `advance`/`set`, so every test sees the same instant whatever ran before.
 * - Where nearly every test of a file moves time and a runtime per test costs too much (Postgres: a
 *   database per runtime), the shared runtime reads a `resettableClock`: each test installs a fresh
 *   `ManualClock` at the same start in `beforeEach`, and empties whatever the runtime keeps that
 *   depends on time and is not scoped to that test's own integration (see its use).
 *
 * test/helpers/clock-isolation.test.ts fails the run when a `new ManualClock(` sits at module scope or
 * in a `describe`/`beforeAll`/`afterAll` body, or when a test casts a runtime's clock to `ManualClock`.
 */

/** A clock that always answers `ms`: the clock of a runtime several tests share. */
export function frozenClock(ms: number): Clock {
  return Object.freeze({ now: () => ms });
}

/** A fresh `ManualClock` and a full runtime on it for the current test; disposed when the test finishes. */
export async function runtimeWithClock(
  start: number,
  options: Omit<Parameters<typeof startRuntime>[0] & object, 'clock'> = {},
): Promise<{ rt: TestRuntime; clock: ManualClock }> {
  const clock = new ManualClock(start);
  const rt = await startRuntime({ ...options, clock });
  onTestFinished(() => rt.dispose());
  return { rt, clock };
}

/**
 * The clock of a runtime the tests of a file share, handing each test a fresh `ManualClock`: call
 * `fresh()` in `beforeEach` (never once for the file) and move the clock it returns; `fresh(at)` starts
 * it elsewhere (e.g. `Date.now()` where a library checks timestamps against the wall clock). Only for a file
 * where no time-dependent state outlives a test unless the same `beforeEach` clears it.
 */
export function resettableClock(start: number): { clock: Clock; fresh(at?: number): ManualClock } {
  // What the runtime reads while it starts, before the first test; no test can move this one.
  let current = new ManualClock(start);
  return {
    clock: { now: () => current.now() },
    fresh(at: number = start) {
      current = new ManualClock(at);
      return current;
    },
  };
}
