import type { Channel } from '../domain/policy.js';
import type { Executor, Mode } from '../store/tables.js';

/** Per-integration provider settings an operator may set (non-secret parts; secrets stay sealed elsewhere). */
export interface SenderOverrides {
  /** WhatsApp: the authentication template's name and language code (else the deployment's). */
  whatsappTemplate?: string;
  whatsappLanguage?: string;
  /** SMS: a sending number or a Messaging Service SID (MG…), else OTPGATE_TWILIO_FROM. */
  smsFrom?: string;
  /** Email: the From address, else OTPGATE_EMAIL_FROM. */
  emailFrom?: string;
}

/** One message for one recipient on one channel, with everything an adapter needs. */
export interface DeliveryJob {
  readonly sourceId: string; // the outbox id: adapters use it to deduplicate a redelivery (idempotency reference)
  readonly deliveryId: string;
  readonly integrationId: string;
  readonly mode: Mode;
  readonly verificationId: string;
  readonly channel: Channel;
  readonly to: string;
  readonly code: string;
  /** BCP 47 tag the text was rendered in (`en`, `pt-BR`, `es`, `id`, `hi`). */
  readonly locale: string;
  readonly subject: string | null;
  readonly text: string;
  /** Email only: the HTML part. */
  readonly html?: string | null;
  readonly brand?: string;
  readonly overrides?: SenderOverrides;
}

/** Why an attempt failed, in a form the fallback, the metrics and `deliveries[]` can use. */
export interface SendFailure {
  ok: false;
  /** true: worth trying again later (5xx, 429, network, timeout); false: permanent (invalid number, template missing). */
  retryable: boolean;
  /** Human-readable, never carrying the code or a credential. */
  error: string;
  /** The provider's own error code when it gave one (`131026`, `21211`), else a short reason (`timeout`, `network`, `http_503`). */
  errorCode?: string;
  /** The provider asked to wait this long (Retry-After). */
  retryAfterMs?: number;
  provider?: string;
}

export type SendOutcome =
  /**
   * `persist`: writes that complete the send (the sandbox's capture), committed with the outbox batch;
   * `afterCommit`: runs once that batch committed (the sandbox wakes an inbox's long-pollers).
   */
  | { ok: true; status: 'sent' | 'delivered'; provider?: string; providerId?: string; persist?: (trx: Executor) => Promise<void>; afterCommit?: () => void }
  | SendFailure;

/** Every channel (WhatsApp, SMS, email, the sandbox) sits behind this one interface. */
export interface ChannelAdapter {
  readonly name: string;
  /** `signal` aborts the call (the per-call timeout). Adapters never throw for provider answers: they return a SendFailure. */
  send(job: DeliveryJob, signal?: AbortSignal): Promise<SendOutcome>;
}

/** Live-mode adapters by channel; a channel with no configured provider is absent. */
export type ChannelRegistry = Partial<Record<Channel, ChannelAdapter>>;
