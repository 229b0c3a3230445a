import { toIso } from '../domain/clock.js';
import { listKeys } from '../store/api-keys-repo.js';
import type { ApiKeyRow } from '../store/api-keys-repo.js';
import type { Mode } from '../store/tables.js';
import type { IssuedKey } from './api-keys.js';
import { getIntegration, type AdminDeps, type IntegrationView } from './integrations.js';

/**
 * Operator creates rebuilt from what they committed, for a retry of an idempotent create whose answer
 * was lost with its process. Secrets are stored only hashed or sealed and never shown twice:
 * `credential` stands in their place, as in any replay. Undefined when the resource is gone.
 */
export async function replayedIntegration(
  deps: AdminDeps,
  id: string,
  credential: string,
): Promise<(Omit<IntegrationView, 'keys'> & { keys: { test: IssuedKey; live: IssuedKey } }) | undefined> {
  const found = await getIntegration(deps, id);
  if (!found.ok) return undefined;
  const rows = await listKeys(deps.db, id);
  // The keys the create issued: the first of each mode.
  const firstOf = (mode: Mode) => rows.filter((row) => row.mode === mode).sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id))[0];
  const test = firstOf('test');
  const live = firstOf('live');
  if (!test || !live) return undefined;
  const { keys: _listed, ...integration } = found.value;
  return { ...integration, keys: { test: issued(test, credential), live: issued(live, credential) } };
}

export async function replayedKey(deps: AdminDeps, integrationId: string, keyId: string, credential: string): Promise<IssuedKey | undefined> {
  const row = (await listKeys(deps.db, integrationId)).find((key) => key.id === keyId);
  return row ? issued(row, credential) : undefined;
}

function issued(row: ApiKeyRow, credential: string): IssuedKey {
  return { id: row.id, mode: row.mode, key: credential, signing_secret: credential, created_at: toIso(row.created_at) };
}
