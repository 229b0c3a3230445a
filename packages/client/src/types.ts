/**
 * Request and response bodies of the otpgate public API, version 1 (API.md). Timestamps are
 * RFC 3339 strings in UTC; money is a decimal string with a `currency`. The server may add fields.
 */

export type { Problem, ProblemBase, ProblemType, Result } from './problem.js';
export type * from './account-types.js';

/** A delivery channel. */
export type Channel = 'whatsapp' | 'sms' | 'email';
/** A channel to send on; `auto` follows the policy's channel order. */
export type ChannelChoice = 'auto' | Channel;

/** A page of a list: `next_cursor` is null on the last page. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** `?limit=` (1–100, default 20) and `?cursor=` of every list. */
export interface ListParams {
  /** @default 20 */
  limit?: number;
  cursor?: string;
}

// ── Verifications ───────────────────────────────────────────────────────────

export type VerificationStatus = 'pending' | 'approved' | 'canceled' | 'expired' | 'failed';
export type DeliveryStatus = 'queued' | 'sent' | 'delivered' | 'failed';

/** One delivery attempt of a verification (a fallback adds another, with the same code). */
export interface Delivery {
  channel: Channel;
  status: DeliveryStatus;
  /** When the attempt last changed. */
  at: string;
  /** `sandbox`, `whatsapp`, `twilio`, `smtp` or `http`; null before the first try. */
  provider: string | null;
  provider_message_id: string | null;
  /** The provider's error code (`131026`, `21211`) or a reason (`timeout`, `circuit_open`, `no_receipt`, …). */
  error_code?: string;
  error?: string;
  created_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  failed_at: string | null;
}

export interface Verification {
  id: string;
  status: VerificationStatus;
  /** `superseded` | `canceled` | `expired` | `max_attempts_reached` | `wrong_code`, or null. */
  failure_reason: string | null;
  identifier: string;
  identifier_type?: 'phone' | 'email' | 'cpf';
  channel: Channel;
  action: string;
  locale?: string | null;
  code_length: number;
  attempts?: number;
  max_attempts?: number;
  sends?: number;
  expires_at: string;
  resend_available_at: string;
  deliveries: Delivery[];
  created_at?: string;
  updated_at?: string;
}

/** Body of `POST /v1/verifications`. */
export interface CreateVerificationParams {
  /** A phone in international form (`+5511987654321`), an email address or a CPF. */
  identifier: string;
  /** @default 'auto' */
  channel?: ChannelChoice;
  /** What the code will authorize: `[a-z0-9_]{1,64}`. @default 'sign_in' */
  action?: string;
  identity_reference?: string;
  /** e.g. `pt-BR`. */
  locale?: string;
}

/** Body of `POST /v1/verifications/check`: the identifier's latest verification, or one by id. */
export type CheckVerificationParams = { identifier: string; code: string } | { verification_id: string; code: string };

/** `200` of `POST /v1/verifications/check`. */
export interface CheckVerificationResponse {
  status: 'approved';
  verification_id: string;
  identifier: string;
  action: string;
  /** The OTP session token: send it as `X-OTP-Session`. */
  otp_session: string;
  session_expires_at: string;
  /** Seconds until `access_token` expires when one is issued, else until the session expires. */
  expires_in: number;
  identity: Identity | null;
  /** A JWT (EdDSA), when the policy enables access tokens. */
  access_token?: string;
  token_type?: 'Bearer';
  /** Space-separated actions the token authorizes. */
  scope?: string;
}

/** Body of `POST /v1/verifications/{id}/resend`. */
export interface ResendVerificationParams {
  /** @default the verification's channel */
  channel?: Channel;
}

// ── Policy, authorization and sessions ──────────────────────────────────────

export type TrustLevel = 'strict' | 'relaxed' | 'trusted' | 'custom';

/** `GET /v1/policy`: the integration's effective policy. */
export interface Policy {
  trust_level: TrustLevel;
  require_otp_for: Record<string, boolean>;
  trust_partner_validation: boolean;
  code: { length: number; ttl_s: number };
  checks: { max_attempts: number; on_wrong_code: 'retry' | 'restart' };
  limits: { send_per_minute: number; check_per_minute: number; resend_cooldown_s: number; max_sends: number };
  lockout: { max_failures: number; window_s: number; duration_s: number };
  channels: Channel[];
  session: { ttl_s: number };
  access_token: { enabled: boolean; ttl_s: number; scopes?: string[] };
  allowed_countries: string[] | null;
  require_signed_requests: boolean;
  billing: { enabled: boolean; low_balance_threshold: string };
  otp_enabled: boolean;
  /** No receipt within `fallback_after_s` → next channel; WebOTP domain and Android SMS Retriever hash for SMS texts. */
  delivery: { fallback_after_s: number | null; app_domain: string | null; android_app_hash: string | null };
  /** SMS-pumping guard on live sends to phones. */
  fraud_guard: 'off' | 'monitor' | 'block';
  fraud_limits: { country_sends_per_hour: number; prefix_sends_per_hour: number; conversion_min_sends: number; conversion_min_rate: number };
  /** The policy's channels that can deliver for this key (all in test mode; those with a provider in live mode). */
  channels_available: Channel[];
}

/** Arguments of `authorize`: the OTP session token and, optionally, the identifier it must belong to. */
export interface AuthorizeParams {
  /** The `otp_session` of a check (sent as `X-OTP-Session`); omitted → only ungated actions pass. */
  session?: string;
  identifier?: string;
}

/** The session an allowed gated action ran under. */
export interface AuthorizedSession {
  identifier: string;
  identity: Identity | null;
  expires_at: string;
}

/** `200` of `POST /v1/authorize`; a refusal is the `otp-required` problem (403). */
export type AuthorizeResponse =
  | { allowed: true; otp_required: false }
  | { allowed: true; otp_required: true; session: AuthorizedSession };

/** `GET /v1/sessions/current`. */
export interface OtpSession {
  id: string;
  identifier: string;
  identity: Identity | null;
  action: string;
  /** The verification whose approval opened the session. */
  verification_id?: string;
  expires_at: string;
  created_at: string;
}

/** `DELETE /v1/sessions/current`. */
export interface RevokedSession {
  id: string;
  revoked: true;
}

/** The mode of a key, a token and everything it acts on: `otpg_test_…` or `otpg_live_…`. */
export type Mode = 'test' | 'live';

/**
 * `POST /v1/tokens/introspect` (RFC 7662): `active` only for a good, unexpired access token of the
 * calling key's integration and mode whose OTP session is not revoked; otherwise just `{active: false}`.
 */
export type TokenIntrospection =
  | { active: false }
  | {
      active: true;
      /** The action, then the policy's extra scopes, space-separated. */
      scope: string;
      sub: string;
      /** `<integration id>:<mode>`. */
      aud: string;
      /** Unix seconds. */
      exp: number;
      iat: number;
      mode: Mode;
      /** The integration id. */
      client_id: string;
    };

// ── Identities ──────────────────────────────────────────────────────────────

export interface Identity {
  id: string;
  reference: string;
  email: string | null;
  email_verified: boolean;
  email_verified_at: string | null;
  phone: string | null;
  phone_verified: boolean;
  phone_verified_at: string | null;
  cpf: string | null;
  name: string | null;
  created_at: string;
}

/** Body of `POST /v1/identities`. */
export interface CreateIdentityParams {
  reference: string;
  email?: string;
  phone?: string;
  cpf?: string;
  name?: string;
}

/** Body of `PATCH /v1/identities/{reference}`; `null` clears a field. */
export interface UpdateIdentityParams {
  email?: string | null;
  phone?: string | null;
  cpf?: string | null;
  name?: string | null;
}
