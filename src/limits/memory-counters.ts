import type { Limits } from './limits.js';

/** What the fraud guard counts with: hourly tallies (Limits has them; so does MemoryCounters). */
export type Counters = Pick<Limits, 'tally' | 'peek'>;

interface Window {
  count: number;
  endsAt: number;
}

/**
 * Fixed-window counters in this process's memory (a window starts at its first count, as
 * rate-limiter-flexible's), for the embedded store's fraud guard.
 *
 * Why not rate-limiter-flexible's RateLimiterMemory, which the counters used before: it arms a timer
 * per key and answers through promises and result objects. The guard counts two keys on every live
 * send to a phone, most of them new (a number range per send), which cost as much CPU as the rest of
 * the guard. Here a count is a Map lookup. Expired windows are dropped when the map outgrows
 * `maxKeys`, oldest first if it is still too large then, so memory stays bounded under a flood.
 */
export class MemoryCounters implements Counters {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  tally(name: string, key: string, durationS: number): Promise<number> {
    const id = `${name}:${key}`;
    const now = this.now();
    const window = this.windows.get(id);
    if (window && window.endsAt > now) {
      window.count += 1;
      return Promise.resolve(window.count);
    }
    if (window) this.windows.delete(id); // re-inserted at the end: the map stays in order of creation
    else if (this.windows.size >= this.maxKeys) this.prune(now);
    this.windows.set(id, { count: 1, endsAt: now + durationS * 1000 });
    return Promise.resolve(1);
  }

  peek(name: string, key: string, _durationS?: number): Promise<number> {
    const window = this.windows.get(`${name}:${key}`);
    return Promise.resolve(window && window.endsAt > this.now() ? window.count : 0);
  }

  /** How many windows are kept (tests). */
  get size(): number {
    return this.windows.size;
  }

  private prune(now: number): void {
    for (const [id, window] of this.windows) if (window.endsAt <= now) this.windows.delete(id);
    // Still full of live windows: forget the oldest quarter rather than grow without bound.
    let excess = this.windows.size - Math.floor(this.maxKeys * 0.75);
    if (excess <= 0) return;
    for (const id of this.windows.keys()) {
      this.windows.delete(id);
      if (--excess <= 0) break;
    }
  }
}
