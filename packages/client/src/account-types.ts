/**
 * Request and response bodies of the webhook, pricing, balance, sandbox and key endpoints
 * (API.md); re-exported by `types.ts`.
 */
import type { Channel, ListParams } from './types.js';

// ── Webhooks ────────────────────────────────────────────────────────────────

export type WebhookEventType =
  | 'verification.created'
  | 'verification.delivered'
  | 'verification.delivery_failed'
  | 'verification.approved'
  | 'verification.failed'
  | 'verification.expired'
  | 'verification.canceled'
  | 'identity.merged'
  | 'identifier.locked'
  | 'balance.low'
  | 'sandbox.message_received'
  | '*';

/** `GET /v1/webhook` (never shows the secret). */
export interface Webhook {
  url: string;
  events: WebhookEventType[];
  is_active: boolean;
  /** Why the server turned the webhook off (the receiver answered 410); null otherwise. */
  disabled_reason?: string | null;
  /** Until when the replaced secret still signs beside the new one (24 h after a rotation). */
  previous_secret_expires_at?: string | null;
  created_at?: string;
  updated_at?: string;
}

/** `PATCH /v1/webhook`: `secret` only in the answer of the PATCH that set it (shown this once). */
export interface WebhookWithSecret extends Webhook {
  secret?: string;
}

/** Body of `PATCH /v1/webhook`. */
export interface UpdateWebhookParams {
  /** Required to create the webhook; optional after. */
  url?: string;
  /** @default ['*'] on first configuration */
  events?: WebhookEventType[];
  /** A missing or short secret is generated (`whsec_…`). */
  secret?: string;
  /** `false` pauses delivery (events are held); `true` resumes it and sends what was held. @default true */
  is_active?: boolean;
}

/** `DELETE /v1/webhook`: the answer's body, or `null` for an empty (204) answer. */
export type WebhookDeleted = { deleted?: boolean; [member: string]: unknown } | null;

/** One attempt-tracked delivery of an event to the webhook URL. */
export interface WebhookDelivery {
  id: string;
  event_id: string;
  event_type: WebhookEventType;
  /** `pending` | `succeeded` | `failed` | `held` (the webhook is paused or disabled). */
  status: string;
  attempts: number;
  /** The receiver's HTTP status at the last attempt; null when it did not answer. */
  response_status?: number | null;
  /** The start of the receiver's last answer (at most 1,024 characters). */
  response_body?: string | null;
  response_time_ms?: number | null;
  last_attempt_at?: string | null;
  /** Why the last attempt failed. */
  error?: string | null;
  next_attempt_at?: string | null;
  created_at: string;
  updated_at?: string;
  [member: string]: unknown;
}

/** `POST /v1/webhook/test`. */
export interface WebhookTestResult {
  /** The `webhook.test` event's id (its `webhook-id`). */
  event_id: string;
  /** The receiver answered 2xx. */
  delivered: boolean;
  /** The receiver's HTTP status; null when it did not answer. */
  status: number | null;
  response_time_ms: number;
  response_body: string | null;
  error: string | null;
}

// ── Pricing and balance ─────────────────────────────────────────────────────

export interface PriceRow {
  /** A send channel, or an inbox rental (`inbox_phone`, `inbox_email`). */
  channel: Channel | 'inbox_phone' | 'inbox_email';
  /** ISO 3166-1 alpha-2, or `*` for the default row. */
  country: string;
  /** A decimal string with four places, e.g. `"0.0500"`. */
  price: string;
  currency: string;
  product?: 'send' | 'inbox_rental';
  updated_at?: string;
}

/** `GET /v1/pricing`. */
export interface Pricing {
  data: PriceRow[];
}

/** `GET /v1/balance`. */
export interface Balance {
  /** A decimal string with four places, shared by the integration's test and live keys. */
  balance: string;
  currency: string;
  /** The policy's `billing.enabled`: live sends are charged. */
  billing_enabled?: boolean;
  low_balance_threshold?: string;
}

export interface LedgerEntry {
  id: string;
  type: 'topup' | 'debit' | 'refund';
  amount: string;
  currency: string;
  balance_after?: string;
  /** A verification id (`ver_…`), an inbox id (`inb_…`) or the top-up's reference. */
  reference?: string | null;
  verification_id?: string | null;
  description?: string | null;
  /** The mode of the key that caused it; null for a top-up. */
  mode?: 'test' | 'live' | null;
  created_at: string;
}

// ── Sandbox ─────────────────────────────────────────────────────────────────

export interface SandboxMessage {
  id: string;
  to: string;
  channel: Channel | string;
  subject: string | null;
  body: string;
  /** The OTP extracted from the body. */
  code: string | null;
  verification_id: string | null;
  received_at: string;
}

/** `?to=&limit=&cursor=` of `GET /v1/sandbox/messages`. */
export interface SandboxMessageListParams extends ListParams {
  to?: string;
}

export type SandboxInboxStatus = 'waiting' | 'otp_received' | 'finished' | 'canceled' | 'expired';

/** Body of `POST /v1/sandbox/inboxes`. */
export interface CreateSandboxInboxParams {
  kind: 'phone' | 'email';
  /** For phones, an ISO country code with a fictitious range, e.g. `US`, `GB`. */
  country?: string;
  /** Extracts the OTP from messages (the first capture group, else the whole match). @default the server's code extractor */
  regex?: string;
  /** `pool`: rent a real number from the operator's pool (it receives SMS through Twilio). @default a fictitious number */
  source?: 'generated' | 'pool';
}

/** One message an inbox received (oldest first in `messages`). */
export interface SandboxInboxMessage {
  id: string;
  channel: Channel | string;
  from: string;
  subject: string | null;
  text: string;
  /** The OTP extracted from the text (the inbox's `regex`, else the default extractor). */
  code: string | null;
  received_at: string;
}

export interface SandboxInbox {
  id: string;
  kind: 'phone' | 'email';
  /** The number (E.164) or address to send the code to. */
  address: string;
  source?: string;
  country?: string | null;
  regex?: string | null;
  status: SandboxInboxStatus;
  expires_at: string;
  /** The latest code, or null. */
  otp_code?: string | null;
  /** How many codes arrived: pass it as `after` to wait for the next one. */
  otp_count?: number;
  /** Every code, oldest first. */
  otps?: { code: string; received_at: string }[];
  messages?: SandboxInboxMessage[];
  created_at?: string;
  updated_at?: string;
}

/** `?wait=&after=` of `GET /v1/sandbox/inboxes/{id}` (a long-poll). */
export interface SandboxInboxGetParams {
  /** Seconds (0–60) the server holds the answer until a code beyond `after` arrives. @default 0 (answer at once) */
  wait?: number;
  /** Codes already seen (`otp_count`): the wait ends as soon as there are more. @default the count when the request arrives */
  after?: number;
}

/** Options of `sandbox.inboxes.waitForCode`. */
export interface WaitForCodeOptions {
  /** Give up after this long (ms). @default 60000 */
  timeoutMs?: number;
  /** Codes already seen (a previous `otp_count`): resolve only once more have arrived. @default 0 (any code, even one that came before the call) */
  after?: number;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** What `waitForCode` resolves to. */
export interface SandboxInboxCode {
  /** The latest code of the inbox. */
  code: string;
  /** Codes the inbox has received so far: pass it as `after` to wait for the next one. */
  otp_count: number;
  /** The inbox as the last long-poll answered it. */
  inbox: SandboxInbox;
}

// ── Keys ────────────────────────────────────────────────────────────────────

/** An Ed25519 public key that signs access tokens. */
export interface Jwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** `GET /.well-known/jwks.json`. */
export interface Jwks {
  keys: Jwk[];
}
