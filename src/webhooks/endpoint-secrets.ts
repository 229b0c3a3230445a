import { unseal } from '../domain/codes.js';
import type { WebhookEndpointRow } from '../store/webhooks-repo.js';

/** How long a replaced secret keeps signing beside the new one (API.md: 24 h). */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

/**
 * The secrets that sign for an endpoint at `now`: its current one, then the one it replaced while
 * the rotation's overlap lasts. Throws when a secret cannot be unsealed (the server secret changed).
 */
export function signingSecrets(endpoint: Pick<WebhookEndpointRow, 'secret_sealed' | 'previous_secret_sealed' | 'previous_secret_until'>, serverSecret: Buffer, now: number): string[] {
  const secrets = [unseal(serverSecret, endpoint.secret_sealed)];
  if (endpoint.previous_secret_sealed && endpoint.previous_secret_until !== null && now < endpoint.previous_secret_until) {
    secrets.push(unseal(serverSecret, endpoint.previous_secret_sealed));
  }
  return secrets;
}
