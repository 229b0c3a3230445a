import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * A secret kept in the data directory: read when present, otherwise generated and written with
 * owner-only permissions. `created` tells the caller to announce it (first start).
 */
export function loadOrCreateSecret(dataDir: string, file: string, generate: () => string): { value: string; created: boolean } {
  const path = join(dataDir, file);
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
  mkdirSync(dataDir, { recursive: true });
  const value = generate();
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}

export const generateAdminToken = (): string => `otpg_admin_${randomBytes(24).toString('base64url')}`;
export const generateServerSecret = (): string => randomBytes(32).toString('base64url');
