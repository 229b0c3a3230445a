import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { seal, unseal } from '../domain/codes.js';
import type { Clock, Random } from '../domain/clock.js';
import { base62 } from '../domain/ids.js';
import { insertSigningKey, listPublishedKeys, retireOthers } from '../store/signing-keys-repo.js';
import type { Db } from '../store/tables.js';

/** The longest an access token can live (policy access_token.ttl_s maximum): retired keys stay published this long. */
export const MAX_TOKEN_TTL_MS = 86_400 * 1000;
const RELOAD_MS = 30_000;

export interface PublicJwk extends JWK {
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/**
 * The Ed25519 keys that sign access tokens, kept in the store (private halves sealed under the
 * server secret). Every process signs with the newest active key and reloads from the store every
 * 30 s, so a rotation made by the CLI reaches running servers without a restart.
 */
export class SigningKeyRing {
  private active: { kid: string; key: CryptoKey } | null = null;
  private published: PublicJwk[] = [];
  private loadedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly serverSecret: Buffer,
  ) {}

  /** Creates a first key when the store has none. */
  async ensureKey(): Promise<void> {
    await this.load();
    if (!this.active) await this.rotate();
  }

  /** A new active key; the previous ones are retired but stay in the JWKS until their tokens expire. */
  async rotate(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const kid = `sk_${base62(this.random, 16)}`;
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await insertSigningKey(trx, {
        kid,
        public_jwk: JSON.stringify(await exportJWK(publicKey)),
        private_jwk_sealed: seal(this.serverSecret, this.random, JSON.stringify(await exportJWK(privateKey))),
        created_at: now,
        retired_at: null,
      });
      await retireOthers(trx, kid, now);
    });
    await this.load();
    return kid;
  }

  async signingKey(): Promise<{ kid: string; key: CryptoKey }> {
    if (!this.active || this.clock.now() - this.loadedAt > RELOAD_MS) await this.load();
    if (!this.active) await this.ensureKey();
    if (!this.active) throw new Error('no signing key');
    return this.active;
  }

  async jwks(): Promise<{ keys: PublicJwk[] }> {
    if (this.clock.now() - this.loadedAt > RELOAD_MS) await this.load();
    return { keys: this.published };
  }

  private async load(): Promise<void> {
    const now = this.clock.now();
    const rows = await listPublishedKeys(this.db, now - MAX_TOKEN_TTL_MS);
    this.published = rows.map((r) => ({ ...(JSON.parse(r.public_jwk) as JWK), kid: r.kid, alg: 'EdDSA', use: 'sig' }));
    const newest = rows.find((r) => r.retired_at === null);
    this.active = newest
      ? { kid: newest.kid, key: (await importJWK(JSON.parse(unseal(this.serverSecret, newest.private_jwk_sealed)) as JWK, 'EdDSA')) as CryptoKey }
      : null;
    this.loadedAt = now;
  }
}
