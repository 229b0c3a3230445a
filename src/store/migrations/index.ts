import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './001-initial.js';
import { signingKeys } from './002-signing-keys.js';
import { identities } from './003-identities.js';
import { signatureReplays } from './004-signature-replays.js';
import { rateLimits } from './005-rate-limits.js';
import { latestVerificationIndex } from './006-latest-verification-index.js';
import { liveDelivery } from './007-live-delivery.js';
import { canonicalIdentifierColumn } from './008-canonical-identifier.js';
import { meta } from './009-meta.js';
import { idempotencyLease } from './010-idempotency-lease.js';
import { webhooks } from './011-webhooks.js';
import { expirySweepIndex } from './012-expiry-sweep-index.js';
import { billing } from './013-billing.js';
import { inboxes } from './014-inboxes.js';
import { webhookDeliveryIndexes } from './015-webhook-delivery-indexes.js';
import { pendingVerificationIndex } from './016-pending-verification-index.js';
import { expiryIndexApart } from './017-expiry-index-apart.js';

/** Migrations are imported in code (not read from a folder) so they work from src and dist alike. */
export const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-signing-keys': signingKeys,
  '003-identities': identities,
  '004-signature-replays': signatureReplays,
  '005-rate-limits': rateLimits,
  '006-latest-verification-index': latestVerificationIndex,
  '007-live-delivery': liveDelivery,
  '008-canonical-identifier': canonicalIdentifierColumn,
  '009-meta': meta,
  '010-idempotency-lease': idempotencyLease,
  '011-webhooks': webhooks,
  '012-expiry-sweep-index': expirySweepIndex,
  '013-billing': billing,
  '014-inboxes': inboxes,
  '015-webhook-delivery-indexes': webhookDeliveryIndexes,
  '016-pending-verification-index': pendingVerificationIndex,
  '017-expiry-index-apart': expiryIndexApart,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
