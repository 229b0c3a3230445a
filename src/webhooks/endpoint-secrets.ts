import { unseal } from '../domain/codes.js';
import type { WebhookEndpointRow } from '../store/webhooks-repo.js';

/** How long a replaced secret keeps signing beside the new one (API.md: 24 h). */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

/**
 * The secrets that sign for an endpoint at `now`: its current one, then the one it replaced while
 * the rotation's overlap lasts. Throws when a secret cannot be unsealed (the server secret changed).
 */
export function signingSecrets(endpoint: Pick<WebhookEndpointRow, 'secret_sealed' | 'previous_secret_sealed' | 'previous_secret_until'>, serverSecret: Buffer, now: number): string[] {
  const secrets = [unsealed(serverSecret, endpoint.secret_sealed)];
  if (endpoint.previous_secret_sealed && endpoint.previous_secret_until !== null && now < endpoint.previous_secret_until) {
    secrets.push(unsealed(serverSecret, endpoint.previous_secret_sealed));
  }
  return secrets;
}

const MEMO_MAX = 1_000;
const memo = new Map<string, { serverSecret: Buffer; secret: string }>();

/**
 * A sealed secret opened once per process, not on every attempt (an AES-GCM open per webhook). Keyed
 * by the sealed text (a new secret is a new sealed text) and checked against the server secret it
 * was opened with.
 */
function unsealed(serverSecret: Buffer, sealed: string): string {
  const known = memo.get(sealed);
  if (known && known.serverSecret.equals(serverSecret)) return known.secret;
  const secret = unseal(serverSecret, sealed);
  if (memo.size >= MEMO_MAX) memo.clear();
  memo.set(sealed, { serverSecret, secret });
  return secret;
}
