/** Canned answers shaped as API.md describes them (test support, not built). */
import type {
  Balance,
  CheckVerificationResponse,
  Identity,
  LedgerEntry,
  Page,
  Policy,
  Pricing,
  SandboxInbox,
  SandboxMessage,
  Verification,
  Webhook,
  WebhookDelivery,
} from '../types.js';

export const verification: Verification = {
  id: 'ver_1a2b3c',
  status: 'pending',
  failure_reason: null,
  identifier: '+5511987654321',
  identifier_type: 'phone',
  channel: 'whatsapp',
  action: 'redemption',
  locale: null,
  code_length: 6,
  attempts: 0,
  max_attempts: 5,
  sends: 1,
  expires_at: '2025-01-01T00:05:00.000Z',
  resend_available_at: '2025-01-01T00:00:30.000Z',
  deliveries: [
    {
      channel: 'whatsapp',
      status: 'queued',
      at: '2025-01-01T00:00:00.000Z',
      provider: null,
      provider_message_id: null,
      created_at: '2025-01-01T00:00:00.000Z',
      sent_at: null,
      delivered_at: null,
      failed_at: null,
    },
  ],
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:00.000Z',
};

export const identity: Identity = {
  id: 'idn_9z8y',
  reference: 'user-42',
  email: 'ana@example.com',
  email_verified: true,
  email_verified_at: '2025-01-01T00:00:00.000Z',
  phone: '+5511987654321',
  phone_verified: false,
  phone_verified_at: null,
  cpf: null,
  name: 'Ana',
  created_at: '2024-12-01T00:00:00.000Z',
};

export const checked: CheckVerificationResponse = {
  status: 'approved',
  verification_id: 'ver_1a2b3c',
  identifier: '+5511987654321',
  action: 'redemption',
  otp_session: 'ots_secret_session',
  session_expires_at: '2025-01-01T00:30:00.000Z',
  expires_in: 7200,
  identity,
  access_token: 'eyJhbGciOiJFZERTQSJ9.e30.sig',
  token_type: 'Bearer',
  scope: 'redemption',
};

export const policy: Policy = {
  trust_level: 'strict',
  require_otp_for: { enrollment: true, redemption: true, coupon_usage: true },
  trust_partner_validation: false,
  code: { length: 6, ttl_s: 300 },
  checks: { max_attempts: 5, on_wrong_code: 'retry' },
  limits: { send_per_minute: 3, check_per_minute: 4, resend_cooldown_s: 30, max_sends: 5 },
  lockout: { max_failures: 10, window_s: 3600, duration_s: 1800 },
  channels: ['whatsapp', 'sms', 'email'],
  session: { ttl_s: 1800 },
  access_token: { enabled: false, ttl_s: 7200 },
  allowed_countries: null,
  require_signed_requests: false,
  billing: { enabled: false, low_balance_threshold: '1.0000' },
  otp_enabled: true,
  delivery: { fallback_after_s: null, app_domain: null, android_app_hash: null },
  fraud_guard: 'monitor',
  fraud_limits: { country_sends_per_hour: 1000, prefix_sends_per_hour: 100, conversion_min_sends: 20, conversion_min_rate: 0.1 },
  channels_available: ['whatsapp', 'sms', 'email'],
};

export const webhook: Webhook = { url: 'https://example.com/hooks', events: ['*'], is_active: true };

export const delivery: WebhookDelivery = {
  id: 'whd_55',
  event_id: 'evt_77',
  event_type: 'verification.approved',
  status: 'failed',
  attempts: 2,
  created_at: '2025-01-01T00:00:00.000Z',
};

export const pricing: Pricing = { data: [{ channel: 'sms', country: '*', price: '0.0500', currency: 'USD' }] };
export const balance: Balance = { balance: '12.3400', currency: 'USD' };
export const ledger: Page<LedgerEntry> = {
  data: [{ id: 'txn_1', type: 'topup', amount: '20.0000', currency: 'USD', created_at: '2025-01-01T00:00:00.000Z' }],
  next_cursor: 'c2',
};

export const message: SandboxMessage = {
  id: 'msg_1',
  to: '+5511987654321',
  channel: 'whatsapp',
  subject: null,
  body: 'Your code is 123456',
  code: '123456',
  verification_id: 'ver_1a2b3c',
  received_at: '2025-01-01T00:00:01.000Z',
};

export const inbox: SandboxInbox = {
  id: 'inb_3',
  kind: 'email',
  address: 'x7@sandbox.otpgate.test',
  status: 'waiting',
  expires_at: '2025-01-01T01:00:00.000Z',
  otp_code: null,
  otps: [],
  messages: [],
};

export const jwks = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k1', alg: 'EdDSA', use: 'sig' }] };
