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
  private readonly entries = new Map<string, { row: SessionRow; until: number }>();

  constructor(
    private readonly maxEntries = 50_000,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(tokenHash: string): Promise<SessionRow | undefined> {
    const hit = this.entries.get(tokenHash);
    if (!hit) return undefined;
    if (hit.until <= this.now()) {
      this.entries.delete(tokenHash);
      return undefined;
    }
    return hit.row;
  }

  async set(tokenHash: string, row: SessionRow): Promise<void> {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value; // Map keeps insertion order
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(tokenHash, { row, until: Math.min(row.expires_at, this.now() + this.maxAgeMs) });
  }

  async delete(tokenHash: string): Promise<void> {
    this.entries.delete(tokenHash);
  }
}
