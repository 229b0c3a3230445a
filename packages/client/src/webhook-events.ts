/**
 * The events otpgate sends to a webhook (API.md "Webhooks"): body `{id, type, created_at, data}`,
 * `data` being the resource as the API shows it (never a code, a secret or a session token).
 */
import type { Identity, Mode, Verification } from './types.js';

interface EventOf<T extends string, D> {
  /** `evt_…`: also the `webhook-id` header, the same on every retry (deduplicate on it). */
  id: string;
  type: T;
  /** RFC 3339, when the event happened. */
  created_at: string;
  data: D;
}

/** A verification as `GET /v1/verifications/{id}` shows it, plus what the event adds (a delivery event's attempt). */
export type VerificationEventData = Verification & { [extra: string]: unknown };

export type VerificationEvent =
  | EventOf<'verification.created', VerificationEventData>
  | EventOf<'verification.delivered', VerificationEventData>
  | EventOf<'verification.delivery_failed', VerificationEventData>
  | EventOf<'verification.approved', VerificationEventData>
  | EventOf<'verification.failed', VerificationEventData>
  | EventOf<'verification.expired', VerificationEventData>
  | EventOf<'verification.canceled', VerificationEventData>;

/** The surviving identity, and what merged into it. */
export type IdentityMergedData = Partial<Identity> & { survivor_id: string; merged_id: string; [extra: string]: unknown };

/** `POST /v1/webhook/test`. */
export interface WebhookTestData {
  integration_id: string;
  mode: Mode;
  message: string;
}

export type WebhookEvent =
  | VerificationEvent
  | EventOf<'identity.merged', IdentityMergedData>
  | EventOf<'identifier.locked', Record<string, unknown>>
  | EventOf<'balance.low', Record<string, unknown>>
  | EventOf<'sandbox.message_received', Record<string, unknown>>
  | EventOf<'webhook.test', WebhookTestData>;
