import type { SessionRow } from '../store/sessions-repo.js';

/**
 * Sessions by token hash, in front of the store: `authorize` sits on the integrator's hot path.
 * Only positive look-ups are cached, never longer than `maxAgeMs`, and revocation deletes the
 * entry, so a revoked session stops working at once in this process.
 */
export interface SessionCache {
  get(tokenHash: string): Promise<SessionRow | undefined>;
  set(tokenHash: string, row: SessionRow): Promise<void>;
  delete(tokenHash: string): Promise<void>;
}

export class MemorySessionCache implements SessionCache {
  // Two generations: when the young one holds half the entries it becomes the old one and the
  // previous old one is dropped whole. (Evicting the oldest entry one at a time from a Map makes V8
  // walk the holes left at its head on every eviction.)
  private young = new Map<string, { row: SessionRow; until: number }>();
  private old = new Map<string, { row: SessionRow; until: number }>();

  constructor(
    private readonly maxEntries = 50_000,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(tokenHash: string): Promise<SessionRow | undefined> {
    const hit = this.young.get(tokenHash) ?? this.old.get(tokenHash);
    if (!hit) return undefined;
    if (hit.until <= this.now()) {
      await this.delete(tokenHash);
      return undefined;
    }
    return hit.row;
  }

  async set(tokenHash: string, row: SessionRow): Promise<void> {
    if (this.young.size >= Math.max(1, Math.floor(this.maxEntries / 2))) {
      this.old = this.young;
      this.young = new Map();
    }
    this.old.delete(tokenHash);
    this.young.set(tokenHash, { row, until: Math.min(row.expires_at, this.now() + this.maxAgeMs) });
  }

  async delete(tokenHash: string): Promise<void> {
    this.young.delete(tokenHash);
    this.old.delete(tokenHash);
  }
}
