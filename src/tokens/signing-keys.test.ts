import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, cryptoRandom } from '../domain/clock.js';
import { migrateToLatest, openStore, type Store } from '../store/database.js';
import { MAX_TOKEN_TTL_MS, SigningKeyRing } from './signing-keys.js';

let store: Store;
let clock: ManualClock;
const secret = Buffer.from('a-server-secret-of-enough-length-0123456789');

beforeEach(async () => {
  store = openStore('sqlite::memory:');
  await migrateToLatest(store.db);
  clock = new ManualClock(Date.UTC(2026, 0, 1)); // each test its own: they move it
});
afterEach(async () => store.close());

describe('SigningKeyRing', () => {
  it('creates one key on first use, and signs with the newest after a rotation', async () => {
    const ring = new SigningKeyRing(store.db, clock, cryptoRandom, secret);
    await ring.ensureKey();
    await ring.ensureKey(); // idempotent
    const first = (await ring.jwks()).keys.map((k) => k.kid);
    expect(first).toHaveLength(1);
    clock.advance(1000);
    const next = await ring.rotate();
    expect((await ring.signingKey()).kid).toBe(next);
    expect((await ring.jwks()).keys.map((k) => k.kid)).toEqual([next, first[0]]);
  });

  it('keeps a retired key published until the longest token it signed has expired, then drops it', async () => {
    const ring = new SigningKeyRing(store.db, clock, cryptoRandom, secret);
    await ring.ensureKey();
    const [old] = (await ring.jwks()).keys.map((k) => k.kid);
    clock.advance(1000);
    const current = await ring.rotate();
    clock.advance(MAX_TOKEN_TTL_MS - 1);
    const fresh = new SigningKeyRing(store.db, clock, cryptoRandom, secret); // another process, loading now
    expect((await fresh.jwks()).keys.map((k) => k.kid)).toEqual([current, old]);
    clock.advance(2);
    const later = new SigningKeyRing(store.db, clock, cryptoRandom, secret);
    expect((await later.jwks()).keys.map((k) => k.kid)).toEqual([current]);
  });

  it('never publishes private key material, and stores it sealed', async () => {
    const ring = new SigningKeyRing(store.db, clock, cryptoRandom, secret);
    await ring.ensureKey();
    const jwks = await ring.jwks();
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
    const row = await store.db.selectFrom('signing_keys').selectAll().executeTakeFirstOrThrow();
    expect(row.private_jwk_sealed).not.toContain('"d"');
    expect(row.private_jwk_sealed.startsWith('v1.')).toBe(true);
  });
});
