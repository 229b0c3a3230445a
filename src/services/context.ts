import type { WebhookHandoff } from '../webhooks/fan-out.js';
import type { Logger } from 'pino';
import { canonicalIdentifier } from '../domain/identifiers.js';
import type { Clock, Random } from '../domain/clock.js';
import type { Channel, EffectivePolicy } from '../domain/policy.js';
import type { ChannelRegistry } from '../delivery/channel.js';
import type { Limits } from '../limits/limits.js';
import type { Counters } from '../limits/memory-counters.js';
import type { Store } from '../store/database.js';
import type { KeptReceiptsHint } from '../store/deliveries-repo.js';
import type { OutboxRow } from '../store/outbox-repo.js';
import type { Mode } from '../store/tables.js';
import type { SigningKeyRing } from '../tokens/signing-keys.js';
import type { InboxSettings } from './inbox-settings.js';
import type { SessionCache } from './session-cache.js';

/** The integration and mode a request acts for, resolved from its API key. */
export interface Tenant {
  readonly integrationId: string;
  readonly name: string;
  readonly mode: Mode;
  readonly keyId: string;
  readonly policy: EffectivePolicy;
}

export type CheckOutcome = 'approved' | 'invalid_code' | 'expired' | 'not_found' | 'max_attempts' | 'locked' | 'rate_limited';

/** Counters the services report to (prom-client in the app, a no-op twin in unit tests). */
export interface Metrics {
  sendAccepted(channel: string, mode: Mode): void;
  check(outcome: CheckOutcome, mode: Mode): void;
  /** The fraud guard found a send suspect (`action`: monitor or block). */
  fraudSuspected?(rule: string, action: string): void;
}

export const noopMetrics: Metrics = { sendAccepted: () => {}, check: () => {} };

/** This process's outbox worker, when it runs: new messages are claimed for it and handed over in memory. */
export interface OutboxHandoff {
  /** A claim for a message about to be enqueued, or null when the worker is not taking work. */
  claim(): { workerId: string; until: number } | null;
  /** Takes a committed message enqueued with that claim. */
  handoff(row: OutboxRow): void;
}

/** Everything the operations need, built once at boot. */
export interface ServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly random: Random;
  readonly serverSecret: Buffer;
  readonly limits: Limits;
  /** The fraud guard's hourly counters (in memory on the embedded store; shared on Postgres). */
  readonly counters?: Counters;
  readonly liveChannels: ChannelRegistry;
  /** Whether a provider receipt may be kept for a send not recorded yet (see KeptReceiptsHint). */
  readonly keptReceipts?: KeptReceiptsHint;
  /** The live channels of one integration, when integrations may bring their own providers. */
  readonly liveChannelsFor?: (integrationId: string) => Promise<readonly Channel[]>;
  readonly metrics: Metrics;
  readonly sessionCache: SessionCache;
  readonly signingKeys: SigningKeyRing;
  /** `iss` of access tokens: OTPGATE_PUBLIC_URL, or "otpgate". */
  readonly issuer: string;
  /** Wakes the outbox worker after a commit that enqueued work. */
  readonly notifyOutbox: () => void;
  /** This process's worker, when it runs here. */
  readonly outbox?: OutboxHandoff;
  /** This process's webhook dispatcher, taking fresh deliveries from their transactions (embedded store). */
  readonly webhookHandoff?: WebhookHandoff;
  /** For what the services report outside an answer (the fraud guard's monitor mode). Never codes or full identifiers. */
  readonly logger?: Logger;
  /** Sandbox inboxes: domain, window, regex budget, long-poll waiters (defaults when absent: services/inbox-settings.ts). */
  readonly inboxes?: InboxSettings;
}

/**
 * Rate limits and lockouts are keyed per integration, mode and canonical identifier, so every
 * spelling of one mailbox (`Victim+x@…`, `victim@…`) shares one count and one lock.
 */
export function identifierKey(tenant: Tenant, identifier: string): string {
  return `${tenant.integrationId}:${tenant.mode}:${canonicalIdentifier(identifier)}`;
}
