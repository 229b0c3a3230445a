import type { Channel } from '../domain/policy.js';
import type { Executor, Mode } from '../store/tables.js';

/** One message for one recipient on one channel, with everything an adapter needs. */
export interface DeliveryJob {
  readonly sourceId: string; // the outbox id: adapters use it to deduplicate a redelivery
  readonly integrationId: string;
  readonly mode: Mode;
  readonly verificationId: string;
  readonly channel: Channel;
  readonly to: string;
  readonly code: string;
  readonly subject: string | null;
  readonly text: string;
}

export type SendOutcome =
  /** `persist`: writes that complete the send (the sandbox's capture), committed with the outbox batch. */
  | { ok: true; status: 'sent' | 'delivered'; providerId?: string; persist?: (trx: Executor) => Promise<void> }
  | { ok: false; retryable: boolean; error: string };

/** Every channel (WhatsApp, SMS, email, the sandbox) sits behind this one interface. */
export interface ChannelAdapter {
  readonly name: string;
  send(job: DeliveryJob): Promise<SendOutcome>;
}

/** Live-mode adapters by channel; a channel with no configured provider is absent. */
export type ChannelRegistry = Partial<Record<Channel, ChannelAdapter>>;
