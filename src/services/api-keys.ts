import { seal, sha256Hex } from '../domain/codes.js';
import { toIso, type Clock, type Random } from '../domain/clock.js';
import { base62, newId } from '../domain/ids.js';
import { insertApiKey, type ApiKeyRow } from '../store/api-keys-repo.js';
import type { Executor, Mode } from '../store/tables.js';

export interface IssuedKey {
  id: string;
  mode: Mode;
  key: string;
  signing_secret: string;
  created_at: string;
}

export interface KeyView {
  id: string;
  mode: Mode;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

/**
 * Issues an API key (`otpg_test_…` / `otpg_live_…`, 190 bits) with its signing secret. The key is
 * stored only as SHA-256; the signing secret sealed, because verifying an HMAC needs it back.
 * Both are returned once, here.
 */
export async function issueKey(
  db: Executor,
  deps: { clock: Clock; random: Random; serverSecret: Buffer },
  integrationId: string,
  mode: Mode,
): Promise<IssuedKey> {
  const key = `otpg_${mode}_${base62(deps.random, 32)}`;
  const signingSecret = `otpg_sig_${base62(deps.random, 40)}`;
  const row: ApiKeyRow = {
    id: newId('key', deps.random),
    integration_id: integrationId,
    mode,
    key_hash: sha256Hex(key),
    key_prefix: key.slice(0, 14),
    signing_secret_sealed: seal(deps.serverSecret, deps.random, signingSecret),
    created_at: deps.clock.now(),
    revoked_at: null,
  };
  await insertApiKey(db, row);
  return { id: row.id, mode, key, signing_secret: signingSecret, created_at: toIso(row.created_at) };
}

export function presentKey(row: ApiKeyRow): KeyView {
  return {
    id: row.id,
    mode: row.mode,
    prefix: row.key_prefix,
    created_at: toIso(row.created_at),
    revoked_at: row.revoked_at === null ? null : toIso(row.revoked_at),
  };
}
