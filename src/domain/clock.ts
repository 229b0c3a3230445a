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

/** Recent conversions: one answer formats the same few instants (now, now + TTL) several times. */
const isoMemo = new Map<number, string>();

export function toIso(ms: number): string {
  let iso = isoMemo.get(ms);
  if (iso === undefined) {
    if (isoMemo.size >= 512) isoMemo.clear();
    iso = new Date(ms).toISOString();
    isoMemo.set(ms, iso);
  }
  return iso;
}
