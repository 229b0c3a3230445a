/**
 * The combined limit steps every store implements in one round trip (src/limits/redis-limits.ts,
 * src/limits/postgres-limits.ts): the same cases for each, on the same stored counters as
 * rate-limiter-flexible's methods, which the rest of the limits still use.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { Limits } from '../../src/limits/limits.js';

export const rule = { maxFailures: 3, windowS: 600, durationS: 900 };

export interface LimitStepsSubject {
  limits: Limits;
  /** The running count of a stored counter (`otpg_send:<key>`), null when none runs. */
  stored(key: string): Promise<number | null>;
  /** Every round trip (Redis command, SQL statement) sent so far, as recorded by the client. */
  sent(): readonly unknown[];
}

/** Runs `work`; says how many round trips it took. */
async function countedBy<T>(subject: LimitStepsSubject, work: () => Promise<T>): Promise<{ result: T; trips: number }> {
  const before = subject.sent().length;
  const result = await work();
  return { result, trips: subject.sent().length - before };
}

export const limitKey = (): string => `test:${randomBytes(6).toString('hex')}`;

/** `trip`: what one round trip is called in the test names ("command", "statement"). */
export function limitStepCases(subject: () => LimitStepsSubject, trip: string): void {
  it(`admit: one ${trip}; counts up to the limit, then refuses with the time left; a separate counter per name`, async () => {
    const { limits, stored } = subject();
    const counted = <T>(work: () => Promise<T>) => countedBy(subject(), work);
    const k = limitKey();
    for (let i = 0; i < 2; i++) {
      const { result, trips } = await counted(() => limits.admit('send', k, 2, 60));
      expect(result).toEqual({ ok: true });
      expect(trips).toBe(1);
    }
    const refused = await limits.admit('send', k, 2, 60);
    expect(refused.ok).toBe(false);
    if (!refused.ok && !refused.locked) expect(refused.msBeforeNext).toBeGreaterThan(55_000);
    else throw new Error('expected a refusal by the limit');
    expect(await limits.admit('check', k, 2, 60)).toEqual({ ok: true });
    // The library's own method reads and writes the same counter.
    expect((await limits.consume('send', k, 5, 60)).ok).toBe(true);
    expect(await stored(`otpg_send:${k}`)).toBe(4);
  });

  it('admit: refused while the key is locked, without counting', async () => {
    const { limits, stored } = subject();
    const k = limitKey();
    await limits.lock(k, rule); // the library's block
    const refused = await limits.admit('check', k, 5, 60);
    expect(refused).toMatchObject({ ok: false, locked: true });
    if (!refused.ok && refused.locked) expect(refused.msLeft).toBeGreaterThan(890_000);
    expect(await stored(`otpg_check:${k}`)).toBeNull();
    expect((await limits.lockStatus(k)).locked).toBe(true);
  });

  it(`admitCheck: one ${trip}; admits the check and reserves a failure, or refuses without reserving`, async () => {
    const { limits, stored } = subject();
    const counted = <T>(work: () => Promise<T>) => countedBy(subject(), work);
    const k = limitKey();
    const first = await counted(() => limits.admitCheck(k, 2, 60, rule));
    expect(first.trips).toBe(1);
    expect(first.result).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
    expect(await limits.admitCheck(k, 2, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: true, last: false } });
    // Over the check limit: refused, and no failure reserved for it.
    const refused = await limits.admitCheck(k, 2, 60, rule);
    expect(refused.admission).toMatchObject({ ok: false, locked: false });
    expect(refused.reservation).toBeNull();
    expect(await stored(`otpg_fail:${k}`)).toBe(2);
    // Admitted with the budget spent: admitted, not reserved, not counted.
    const spent = limitKey();
    for (let i = 0; i < 3; i++) await limits.reserveFailure(spent, rule);
    expect(await limits.admitCheck(spent, 5, 60, rule)).toEqual({ admission: { ok: true }, reservation: { ok: false } });
    expect(await stored(`otpg_fail:${spent}`)).toBe(3);
    // Locked: refused with the time left.
    await limits.lock(spent, rule);
    expect((await limits.admitCheck(spent, 5, 60, rule)).admission).toMatchObject({ ok: false, locked: true });
  });

  it(`reserveFailure: one ${trip}; the last of max_failures says so; a spent budget is refused without counting again`, async () => {
    const { limits, stored } = subject();
    const counted = <T>(work: () => Promise<T>) => countedBy(subject(), work);
    const k = limitKey();
    const reservations = [];
    for (let i = 0; i < 3; i++) {
      const { result, trips } = await counted(() => limits.reserveFailure(k, rule));
      expect(trips).toBe(1);
      reservations.push(result);
    }
    expect(reservations).toEqual([{ ok: true, last: false }, { ok: true, last: false }, { ok: true, last: true }]);
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
    expect(await stored(`otpg_fail:${k}`)).toBe(3);
    expect(await limits.failureRoom(k, rule)).toBe(false);
  });

  it('reserveFailure: concurrent reservations never share a failure (exactly max_failures succeed)', async () => {
    const { limits } = subject();
    const k = limitKey();
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => limits.reserveFailure(k, rule)));
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(rule.maxFailures);
    expect(outcomes.filter((outcome) => outcome.ok && outcome.last)).toHaveLength(1);
  });

  it(`settleReservation: one ${trip}; approved resets the budget, otherwise gives one back, never below zero`, async () => {
    const { limits, stored } = subject();
    const counted = <T>(work: () => Promise<T>) => countedBy(subject(), work);
    const k = limitKey();
    await limits.reserveFailure(k, rule);
    await limits.reserveFailure(k, rule);
    const { trips } = await counted(() => limits.settleReservation(k, rule, false));
    expect(trips).toBe(1);
    expect(await stored(`otpg_fail:${k}`)).toBe(1);
    await limits.settleReservation(k, rule, true);
    expect(await stored(`otpg_fail:${k}`)).toBeNull();
    // A give-back landing after the approving check's reset: nothing to give back (the budget stays max_failures).
    await limits.settleReservation(k, rule, false);
    expect(await stored(`otpg_fail:${k}`)).toBeNull();
    for (let i = 0; i < 3; i++) expect((await limits.reserveFailure(k, rule)).ok).toBe(true);
    expect(await limits.reserveFailure(k, rule)).toEqual({ ok: false });
  });
}
