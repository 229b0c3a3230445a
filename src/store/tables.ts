import type { Kysely, Transaction } from 'kysely';

/** Times are epoch milliseconds (bigint columns); JSON is text; booleans are not stored. */
export type Mode = 'test' | 'live';

export interface IntegrationsTable {
  id: string;
  name: string;
  trust_level: string;
  policy_json: string; // the stored partial policy (overrides over preset and defaults)
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface ApiKeysTable {
  id: string;
  integration_id: string;
  mode: Mode;
  key_hash: string;
  key_prefix: string;
  signing_secret_sealed: string;
  created_at: number;
  revoked_at: number | null;
}

export interface VerificationsTable {
  id: string;
  integration_id: string;
  mode: Mode;
  identifier: string;
  identifier_kind: string;
  country: string | null;
  channel: string;
  action: string;
  locale: string | null;
  status: string;
  failure_reason: string | null;
  code_hash: string;
  code_sealed: string | null; // wiped when the verification leaves `pending`
  code_length: number;
  attempts: number;
  max_attempts: number;
  sends: number;
  expires_at: number;
  last_sent_at: number;
  created_at: number;
  updated_at: number;
  identity_id: string | null;
  destination: string | null; // where the code goes when it is not the identifier (a CPF's phone or email)
  /** canonicalIdentifier(identifier): the spelling-independent key of the latest/pending look-ups (migration 008). */
  canonical_identifier: string;
}

export interface DeliveriesTable {
  id: string;
  verification_id: string;
  channel: string;
  status: string; // queued | sent | delivered | failed
  error: string | null;
  created_at: number;
  updated_at: number;
  provider: string | null; // sandbox | whatsapp | twilio | smtp | http
  provider_message_id: string | null;
  error_code: string | null;
  message_json: string | null; // the MessageSpec (delivery/message-spec.ts); never the code
  sent_at: number | null;
  delivered_at: number | null;
  failed_at: number | null;
  fell_back_at: number | null; // the next channel was tried (once per attempt)
}

export interface DeliveryReceiptsTable {
  provider: string;
  provider_message_id: string;
  status: string;
  error_code: string | null;
  error: string | null;
  received_at: number;
}

export interface IntegrationDeliveryTable {
  integration_id: string;
  settings_json: string; // DeliverySettings, credentials sealed
  updated_at: number;
}

export interface OutboxTable {
  id: string;
  kind: string;
  integration_id: string;
  mode: Mode;
  payload_json: string;
  status: string; // pending | done | dead
  attempts: number;
  available_at: number;
  locked_until: number | null;
  locked_by: string | null;
  last_error: string | null;
  created_at: number;
}

export interface SandboxMessagesTable {
  id: string;
  integration_id: string;
  mode: Mode;
  to_address: string;
  channel: string;
  subject: string | null;
  body: string;
  code: string | null;
  verification_id: string | null;
  source_id: string | null; // the outbox id that produced it: redelivery is deduplicated on it
  received_at: number;
}

export interface SessionsTable {
  id: string;
  integration_id: string;
  mode: Mode;
  token_hash: string;
  identifier: string;
  identity_id: string | null;
  verification_id: string;
  action: string;
  expires_at: number;
  revoked_at: number | null;
  created_at: number;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status: string; // in_flight | done
  response_status: number | null;
  response_body: string | null;
  created_at: number;
  /** When an in-flight claim lapses (a retry may take it over); also the claim's fencing token. Null: a claim made before migration 010. */
  lease_until: number | null;
  /** What the guarded operation created, written in its transaction (`verification`, `session`). */
  resource_kind: string | null;
  resource_id: string | null;
}

export interface SigningKeysTable {
  kid: string;
  public_jwk: string;
  private_jwk_sealed: string;
  created_at: number;
  retired_at: number | null;
}

export interface IdentitiesTable {
  id: string;
  integration_id: string;
  mode: Mode;
  reference: string; // the reference it was created with
  email: string | null;
  email_verified_at: number | null;
  phone: string | null;
  phone_verified_at: number | null;
  cpf: string | null;
  name: string | null;
  created_at: number;
  updated_at: number;
}

export interface IdentityReferencesTable {
  integration_id: string;
  mode: Mode;
  reference: string;
  identity_id: string;
  created_at: number;
}

export interface IdentityMergesTable {
  merged_id: string;
  survivor_id: string;
  created_at: number;
}

export interface EventsTable {
  id: string;
  integration_id: string;
  mode: Mode;
  type: string;
  data_json: string;
  created_at: number;
}

export interface WebhookEndpointsTable {
  id: string;
  integration_id: string;
  mode: Mode;
  url: string;
  events_json: string; // '*' or a JSON array of event types
  is_active: number; // 0 | 1
  disabled_reason: string | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_until: number | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  endpoint_id: string;
  integration_id: string;
  mode: Mode;
  event_type: string;
  status: string; // pending | succeeded | failed | held
  attempts: number;
  next_attempt_at: number | null;
  locked_until: number | null;
  locked_by: string | null;
  last_attempt_at: number | null;
  last_response_status: number | null;
  last_response_ms: number | null;
  last_response_body: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** Money columns hold units of 1/10,000 of the currency (billing/money.ts), read back as numbers. */
export interface PricesTable {
  channel: string; // whatsapp | sms | email | inbox_phone | inbox_email
  country: string; // ISO 3166 alpha-2, or '*'
  price: number;
  updated_at: number;
}

export interface BalancesTable {
  integration_id: string;
  balance: number;
  updated_at: number;
}

export interface LedgerEntriesTable {
  id: string;
  integration_id: string;
  mode: Mode | null;
  kind: string; // topup | debit | refund
  amount: number; // signed
  balance_after: number;
  reference: string;
  description: string | null;
  created_at: number;
}

/** A sandbox inbox (migration 014). `open_address` is `address` while open, null once closed. */
export interface SandboxInboxesTable {
  id: string;
  integration_id: string;
  mode: Mode;
  kind: string; // phone | email
  address: string;
  open_address: string | null;
  source: string; // generated | pool
  country: string | null;
  regex: string | null;
  status: string; // waiting | otp_received | finished | canceled | expired
  expires_at: number;
  otp_count: number;
  last_code: string | null;
  pool_number: string | null;
  created_at: number;
  updated_at: number;
}

export interface SandboxInboxMessagesTable {
  id: string;
  inbox_id: string;
  seq: number; // arrival order within the inbox
  channel: string; // sms | email | whatsapp
  from_address: string;
  subject: string | null;
  text: string;
  code: string | null;
  source_id: string;
  received_at: number;
}

export interface SandboxPoolNumbersTable {
  number: string;
  label: string | null;
  country: string | null;
  rented_by: string | null; // the inbox holding it
  created_at: number;
  updated_at: number;
}

export interface Tables {
  prices: PricesTable;
  balances: BalancesTable;
  ledger_entries: LedgerEntriesTable;
  integrations: IntegrationsTable;
  api_keys: ApiKeysTable;
  verifications: VerificationsTable;
  deliveries: DeliveriesTable;
  delivery_receipts: DeliveryReceiptsTable;
  integration_delivery: IntegrationDeliveryTable;
  outbox: OutboxTable;
  sandbox_messages: SandboxMessagesTable;
  sandbox_inboxes: SandboxInboxesTable;
  sandbox_inbox_messages: SandboxInboxMessagesTable;
  sandbox_pool_numbers: SandboxPoolNumbersTable;
  sessions: SessionsTable;
  idempotency_keys: IdempotencyKeysTable;
  signing_keys: SigningKeysTable;
  identities: IdentitiesTable;
  identity_references: IdentityReferencesTable;
  identity_merges: IdentityMergesTable;
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

export type Db = Kysely<Tables>;
/** Repositories take either the database or an open transaction. */
export type Executor = Kysely<Tables> | Transaction<Tables>;
