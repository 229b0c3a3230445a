import { randomBytes, randomInt } from 'node:crypto';

/** Time, injected so the domain never reads the wall clock itself. */
export interface Clock {
  now(): number; // epoch milliseconds
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private ms: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}

/** Randomness, injected for the same reason. */
export interface Random {
  /** A uniform integer in [min, max). */
  int(min: number, max: number): number;
  bytes(n: number): Buffer;
}

export const cryptoRandom: Random = {
  int: (min, max) => randomInt(min, max),
  bytes: (n) => randomBytes(n),
};

export const toIso = (ms: number): string => new Date(ms).toISOString();
