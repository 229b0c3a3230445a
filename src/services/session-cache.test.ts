import { describe, expect, it } from 'vitest';
import type { SessionRow } from '../store/sessions-repo.js';
import { MemorySessionCache } from './session-cache.js';

const row = (id: string, expiresAt = 10_000): SessionRow => ({
  id,
  integration_id: 'int_a',
  mode: 'test',
  token_hash: `h_${id}`,
  identifier: '+5511900000001',
  identity_id: null,
  verification_id: 'ver_a',
  action: 'redemption',
  expires_at: expiresAt,
  revoked_at: null,
  created_at: 0,
});

describe('MemorySessionCache', () => {
  it('answers what was set until the session or the cache age expires, and forgets deleted entries', async () => {
    let now = 1_000;
    const cache = new MemorySessionCache(100, 5_000, () => now);
    await cache.set('a', row('a', 3_000));
    await cache.set('b', row('b', 60_000));
    expect((await cache.get('a'))?.id).toBe('a');
    now = 3_000;
    expect(await cache.get('a')).toBeUndefined(); // the session expired
    expect((await cache.get('b'))?.id).toBe('b');
    now = 6_000;
    expect(await cache.get('b')).toBeUndefined(); // cached at most maxAgeMs
    await cache.set('c', row('c', 60_000));
    await cache.delete('c');
    expect(await cache.get('c')).toBeUndefined();
  });

  it('stays bounded by maxEntries, dropping the oldest, and a delete reaches either generation', async () => {
    const cache = new MemorySessionCache(4, 60_000, () => 0);
    for (const id of ['s1', 's2', 's3', 's4', 's5', 's6']) await cache.set(id, row(id));
    const present = [];
    for (const id of ['s1', 's2', 's3', 's4', 's5', 's6']) if (await cache.get(id)) present.push(id);
    expect(present.length).toBeLessThanOrEqual(4);
    expect(present).toContain('s6');
    expect(present).not.toContain('s1');
    await cache.delete(present[0] as string); // in the old generation
    expect(await cache.get(present[0] as string)).toBeUndefined();
    await cache.set('s5', row('s5b')); // re-set: the newest value wins
    expect((await cache.get('s5'))?.id).toBe('s5b');
  });
});
