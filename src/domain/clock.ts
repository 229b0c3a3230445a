import { randomBytes, randomFillSync, randomInt } from 'node:crypto';

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

/**
 * crypto's randomness, with small byte requests served from a pool filled 4 KiB at a time: every
 * id and IV asks for a few dozen bytes, and each call into the CSPRNG has a fixed cost.
 */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let offset = 0;
function pooledBytes(n: number): Buffer {
  if (n > 256) return randomBytes(n);
  if (offset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n)); // a copy: callers may keep it
  pool.fill(0, offset, offset + n); // handed-out bytes are not kept around
  offset += n;
  return out;
}

export const cryptoRandom: Random = {
  int: (min, max) => randomInt(min, max),
  bytes: pooledBytes,
};

/**
 * `YYYY-MM-DDTHH:MM:SS.` of recent whole seconds: one answer formats a few instants (now, now + TTL,
 * the row's times), mostly within the same few seconds, so only the milliseconds are new each time.
 */
const secondPrefixes = new Map<number, string>();

export function toIso(ms: number): string {
  if (!Number.isInteger(ms)) return new Date(ms).toISOString(); // NaN and fractions as Date does
  const second = Math.floor(ms / 1000);
  const rest = ms - second * 1000;
  const prefix = secondPrefixes.get(second);
  if (prefix === undefined) {
    const iso = new Date(ms).toISOString(); // throws RangeError out of Date's range
    if (iso.length === 24) {
      if (secondPrefixes.size >= 256) secondPrefixes.clear();
      secondPrefixes.set(second, iso.slice(0, 20));
    }
    return iso;
  }
  return `${prefix}${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}Z`;
}
