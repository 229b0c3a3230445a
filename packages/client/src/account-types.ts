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
  channel: Channel;
  /** ISO 3166-1 alpha-2, or `*` for the default row. */
  country: string;
  price: string;
  currency: string;
}

/** `GET /v1/pricing`. */
export interface Pricing {
  data: PriceRow[];
}

/** `GET /v1/balance`. */
export interface Balance {
  balance: string;
  currency: string;
}

export interface LedgerEntry {
  id: string;
  type: 'topup' | 'debit' | 'refund';
  amount: string;
  currency: string;
  balance_after?: string;
  reference?: string | null;
  verification_id?: string | null;
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
  /** For phones, e.g. `BR`. */
  country?: string;
  /** Extracts the OTP from messages. @default the server's code extractor */
  regex?: string;
}

export interface SandboxInbox {
  id: string;
  kind: 'phone' | 'email';
  address: string;
  status: SandboxInboxStatus;
  expires_at: string;
  otp_code?: string | null;
  otps?: { code: string; received_at: string }[];
  messages?: SandboxMessage[];
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
