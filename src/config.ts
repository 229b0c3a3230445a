import { resolve, isAbsolute } from 'node:path';
import type { Channel } from './domain/policy.js';
import { sandboxSmtpPortIsOff, sandboxSmtpTunables, type SandboxSmtpTunables } from './sandbox/smtp-config.js';

/** One frozen, validated configuration read from the environment at boot. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string;
  readonly redisUrl: string | null;
  readonly adminToken: string | null;
  readonly serverSecret: string | null;
  /** The sandbox SMTP listener's port (OTPGATE_SANDBOX_SMTP_PORT, default 2525; 0: any free port; `off`: null, no listener). */
  readonly sandboxSmtpPort: number | null;
  /** The sandbox SMTP listener's bind address, limits, STARTTLS and AUTH (OTPGATE_SANDBOX_SMTP_*; see sandbox/smtp-config.ts). */
  readonly sandboxSmtp: SandboxSmtpTunables;
  readonly publicUrl: string | null;
  readonly webhookAllowInsecure: boolean;
  /** Outgoing HTTP (webhooks, provider APIs) on a worker thread of its own (OTPGATE_HTTP_THREAD, `1` by default; `0`: on the main thread). */
  readonly httpThread: boolean;
  /** How outgoing webhooks are delivered. */
  readonly webhooks: WebhookTunables;
  readonly logLevel: string;
  readonly bodyLimit: number;
  readonly whatsapp: { token: string; phoneNumberId: string; template: string; appSecret: string | null; verifyToken: string | null; baseUrl: string } | null;
  readonly twilio: { accountSid: string; authToken: string; from: string; baseUrl: string } | null;
  readonly email: { smtpUrl: string; from: string } | null;
  /** A generic HTTP gateway (any other provider or an in-house one) for the listed channels. */
  readonly httpProvider: { url: string; secret: string; channels: Channel[] } | null;
  /** Outbox batches a worker keeps in flight at once (OTPGATE_OUTBOX_CONCURRENCY, default 4): a slow provider does not hold up the rest. */
  readonly outboxConcurrency: number;
  /** How every provider call is guarded (cockatiel policies). */
  readonly providerCalls: ProviderCallTunables;
  /** How long an integration's delivery settings are cached before being read again (OTPGATE_DELIVERY_SETTINGS_CACHE_MS, default 5,000). */
  readonly deliverySettingsCacheMs: number;
  /** How long the HTTP server waits on clients, and how many it serves at once (slow-client protection). */
  readonly httpServer: HttpServerTunables;
  /** How the in-process outbox worker claims, polls and batches. */
  readonly outbox: OutboxTunables;
  /**
   * How long a process trusts an API key (and its integration's policy) it has read before reading it
   * again; a revocation reaches a process that was not told within this (OTPGATE_API_KEY_CACHE_MS, default 500).
   */
  readonly apiKeyCacheMs: number;
  /** The session cache: in memory on SQLite, in Redis with Postgres + Redis. */
  readonly sessionCache: SessionCacheTunables;
  /** Rate-limit and lockout counters the embedded store keeps in memory (written behind to its file); beyond it, written-back ones are forgotten and read again when needed (OTPGATE_LIMIT_COUNTERS_MAX_KEYS, default 100,000). */
  readonly limitCountersMaxKeys: number;
  /**
   * How long the embedded store's counter changes wait in memory before they are written to its file
   * (OTPGATE_LIMIT_COUNTERS_FLUSH_MS, default 100; 0: with the next commit). Changes to one counter
   * within it are written once, a check's failure reservation given back within it not at all; a
   * crash loses at most this long of counts.
   */
  readonly limitCountersFlushMs: number;
  /** How long a Redis connection attempt may take before it counts as failed (OTPGATE_REDIS_CONNECT_TIMEOUT_MS, default 2,000). */
  readonly redisConnectTimeoutMs: number;
  /**
   * Embedded store: how often a background thread copies the write-ahead log into the database file
   * (OTPGATE_SQLITE_CHECKPOINT_MS, default 250, 10–5,000). A page changed many times between two
   * checkpoints is copied once: at 250 ms a check copied 0.81 pages and a send 2.06, at 100 ms 1.14 and
   * 2.82, with a third of the fsyncs. Longer lets the log grow further between copies (past 10,000 pages
   * the serving thread checkpoints itself).
   */
  readonly sqliteCheckpointMs: number;
  /** Connections in the Postgres pool of one process (OTPGATE_POSTGRES_POOL_SIZE, default 10); unused on SQLite. */
  readonly postgresPoolSize: number;
  /**
   * Sends and approvals ready in the same turn of the event loop share one Postgres transaction and
   * COMMIT, this many at most (OTPGATE_POSTGRES_GROUP_COMMIT_MAX, default 64; 1 turns group commit
   * off: one transaction each). Unused on SQLite, which always groups its commits.
   */
  readonly postgresGroupCommitMax: number;
  /**
   * Distinct statements of the pipelined transactions PREPAREd on each Postgres connection, planned
   * once and then run by name (OTPGATE_POSTGRES_PREPARED_STATEMENTS, default 500; 0: none, every
   * statement is sent with its values written in: needed behind a pooler in transaction mode such as
   * PgBouncer, since SQL-level PREPARE lives in one server session).
   */
  readonly postgresPreparedStatements: number;
  /** How often expired idempotency keys and finished outbox messages are purged (OTPGATE_HOUSEKEEPING_INTERVAL_MS, default 600,000). */
  readonly housekeepingIntervalMs: number;
  /** Days events and finished webhook deliveries are kept (OTPGATE_EVENT_RETENTION_DAYS, default 30); a delivery still pending or held keeps its event. */
  readonly eventRetentionDays: number;
  /**
   * How long a request's claim on its Idempotency-Key holds: a retry meanwhile gets 409, and a claim
   * whose request died with its process (nothing committed) is taken over by a retry after it. Keep
   * it well above the longest a request runs (OTPGATE_IDEMPOTENCY_LEASE_MS, default 60,000).
   */
  readonly idempotencyLeaseMs: number;
  /** On SIGTERM/SIGINT, the process exits 1 if draining takes longer than this (OTPGATE_SHUTDOWN_TIMEOUT_MS, default 15,000). */
  readonly shutdownTimeoutMs: number;
  /**
   * How often a worker process marks verifications pending past their expiry as expired and records
   * `verification.expired` (OTPGATE_EXPIRY_SWEEP_INTERVAL_MS, default 15,000; 100–60,000).
   */
  readonly expirySweepIntervalMs: number;
  /** Sandbox inboxes: their email domain, waiting window, regex budget and expiry sweep. */
  readonly sandboxInboxes: SandboxInboxTunables;
  /**
   * The one currency of prices and balances, an ISO 4217 code (OTPGATE_BILLING_CURRENCY, default
   * USD). Amounts are not converted: change it only on a store with no balances (docs/billing.md).
   */
  readonly billingCurrency: string;
  /** The operator console at /dashboard (docs/dashboard.md). */
  readonly dashboard: DashboardTunables;
}

export interface DashboardTunables {
  /** A console session ends after this long without a request (OTPGATE_DASHBOARD_SESSION_IDLE_MS, default 1,800,000: 30 min; 60,000–86,400,000). */
  readonly sessionIdleMs: number;
  /** A console session ends this long after sign-in, however active (OTPGATE_DASHBOARD_SESSION_MAX_MS, default 43,200,000: 12 h; 60,000–604,800,000). */
  readonly sessionMaxMs: number;
  /** Wrong admin tokens one client address may try at sign-in per window before 429 (OTPGATE_DASHBOARD_SIGNIN_ATTEMPTS, default 5; 1–1,000). */
  readonly signInAttempts: number;
  /** That window (OTPGATE_DASHBOARD_SIGNIN_WINDOW_MS, default 300,000: 5 min; 1,000–86,400,000). */
  readonly signInWindowMs: number;
  /** How often the console's live streams look for new events (OTPGATE_DASHBOARD_LIVE_POLL_MS, default 1,000; 100–60,000). */
  readonly livePollMs: number;
}

export interface SandboxInboxTunables {
  /** Domain of email inboxes' addresses (OTPGATE_SANDBOX_DOMAIN, default `sandbox.otpgate.test`). */
  readonly domain: string;
  /** An inbox's waiting window, from creation and from each reorder (OTPGATE_SANDBOX_INBOX_TTL_MS, default 1,200,000: 20 min). */
  readonly ttlMs: number;
  /** How long an inbox's own regex may run on one message before it is cut off and the message stored with no code (OTPGATE_SANDBOX_REGEX_TIMEOUT_MS, default 50; 1–1,000). */
  readonly regexTimeoutMs: number;
  /** How often a worker process expires inboxes past their window (OTPGATE_SANDBOX_INBOX_SWEEP_INTERVAL_MS, default 15,000; 100–60,000). */
  readonly sweepIntervalMs: number;
}

export interface OutboxTunables {
  /** How long a claim holds without renewal; renewed every third of it while in hand, and a crashed worker's claims return after it (OTPGATE_OUTBOX_LEASE_MS, default 5,000). */
  readonly leaseMs: number;
  /** How long an idle worker sleeps between looks for due messages, when nothing wakes it (OTPGATE_OUTBOX_POLL_MS, default 500). */
  readonly pollMs: number;
  /** How long a wake-up waits to gather messages accepted together into one batch (OTPGATE_OUTBOX_GATHER_MS, default 5). */
  readonly gatherMs: number;
  /** Messages in one batch, delivered together and recorded in one transaction (OTPGATE_OUTBOX_BATCH_SIZE, default 50). */
  readonly batchSize: number;
}

export interface WebhookTunables {
  /** One webhook attempt's timeout: connecting, waiting and reading the answer (OTPGATE_WEBHOOK_TIMEOUT_MS, default 10,000). */
  readonly timeoutMs: number;
  /** Attempts in flight at once to one endpoint, per process: a slow receiver holds only these (OTPGATE_WEBHOOK_CONCURRENCY_PER_ENDPOINT, default 16). */
  readonly concurrencyPerEndpoint: number;
  /** Attempts in flight at once in one process, all endpoints together (OTPGATE_WEBHOOK_MAX_IN_FLIGHT, default 256). */
  readonly maxInFlight: number;
  /** How long an idle dispatcher sleeps between looks for due deliveries (OTPGATE_WEBHOOK_POLL_MS, default 500). */
  readonly pollMs: number;
  /** How long a process trusts what it read about whether an integration has a webhook endpoint (OTPGATE_WEBHOOK_ENDPOINT_CACHE_MS, default 1,000). */
  readonly endpointCacheMs: number;
  /** How often a dispatcher looks for held deliveries of active endpoints, written held from a stale cache entry (OTPGATE_WEBHOOK_HELD_RECHECK_MS, default 30,000). */
  readonly heldRecheckMs: number;
  /**
   * Fresh deliveries one process keeps in memory for its endpoints, all together, taken from the
   * transactions that wrote them while they wait for a free slot (OTPGATE_WEBHOOK_QUEUE_MAX, default
   * 10,000; about 1–2 KB each). Per endpoint, what it can send within the wait a claim allows.
   */
  readonly queueMax: number;
}

export interface SessionCacheTunables {
  /** Sessions kept in the in-memory cache before it starts over (OTPGATE_SESSION_CACHE_MAX_ENTRIES, default 50,000). */
  readonly maxEntries: number;
  /** How long a cached session is trusted before it is read again (OTPGATE_SESSION_CACHE_MS, default 60,000). */
  readonly maxAgeMs: number;
}

export interface HttpServerTunables {
  /** A request whose headers and body are not all received within this is answered 408 and closed (OTPGATE_REQUEST_TIMEOUT_MS, default 30,000). */
  readonly requestTimeoutMs: number;
  /** Headers not all received within this are answered 408 and closed; at most the request timeout (OTPGATE_HEADERS_TIMEOUT_MS, default 10,000). */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this; above a load balancer's own idle timeout (OTPGATE_KEEP_ALIVE_TIMEOUT_MS, default 72,000). */
  readonly keepAliveTimeoutMs: number;
  /** A connection with no bytes either way for this long is closed: slow readers, stalled answers (OTPGATE_SOCKET_TIMEOUT_MS, default 60,000). */
  readonly socketTimeoutMs: number;
  /** Connections beyond this are closed at once on accept (OTPGATE_MAX_CONNECTIONS, default 10,000). */
  readonly maxConnections: number;
}

export interface ProviderCallTunables {
  /** One call's timeout (OTPGATE_PROVIDER_TIMEOUT_MS, default 10,000). */
  readonly timeoutMs: number;
  /** Retries within one delivery attempt on 5xx, 429 and network errors (OTPGATE_PROVIDER_RETRIES, default 2). */
  readonly retries: number;
  /** First backoff; doubles per retry, with full jitter (OTPGATE_PROVIDER_BACKOFF_MS, default 250). */
  readonly backoffMs: number;
  /** A Retry-After longer than this ends the attempt at once: the next channel, or the outbox later (OTPGATE_PROVIDER_MAX_RETRY_AFTER_MS, default 10,000). */
  readonly maxRetryAfterMs: number;
  /** Consecutive transient failures that open a provider's circuit (OTPGATE_PROVIDER_BREAKER_FAILURES, default 5). */
  readonly breakerFailures: number;
  /** How long an open circuit waits before a probe (OTPGATE_PROVIDER_BREAKER_HALF_OPEN_MS, default 30,000). */
  readonly breakerHalfOpenMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Empty strings count as unset. */
function read(env: Env, name: string): string | null {
  const value = env[name]?.trim();
  return value ? value : null;
}

function port(env: Env, name: string, fallback: number): number {
  const raw = read(env, name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65535) throw new ConfigError(`${name} must be a port number (0-65535), got "${raw}"`);
  return n;
}

function url(env: Env, name: string, protocols: string[], fallback: string | null = null): string | null {
  const raw = read(env, name) ?? fallback;
  if (raw === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL, got "${raw.replace(/\/\/[^@/]*@/, '//***@')}"`);
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(`${name} must use ${protocols.join(' or ')}`);
  return raw.replace(/\/+$/, '');
}

/** A provider is configured when all its required variables are set; a partial set names what is missing. */
function group<T>(env: Env, label: string, required: string[], build: (get: (n: string) => string) => T): T | null {
  const present = required.filter((n) => read(env, n) !== null);
  if (present.length === 0) return null;
  const missing = required.filter((n) => read(env, n) === null);
  if (missing.length > 0) throw new ConfigError(`${label} is partly configured: set ${missing.join(', ')}`);
  return build((n) => read(env, n) as string);
}

/** `1` or `0`. */
function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name);
  if (raw === null) return fallback;
  if (raw !== '0' && raw !== '1') throw new ConfigError(`${name} must be 1 or 0, got "${raw}"`);
  return raw === '1';
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
}

/** An ISO 4217 code: three capital letters (lower case is accepted and upper-cased). */
function currency(env: Env, name: string, fallback: string): string {
  const raw = read(env, name);
  if (raw === null) return fallback;
  const code = raw.toUpperCase();
  if (!/^[A-Z]{3}$/.test(code)) throw new ConfigError(`${name} must be a three-letter ISO 4217 currency code, got "${raw}"`);
  return code;
}

const CHANNELS: readonly Channel[] = ['whatsapp', 'sms', 'email'];

function channelList(env: Env, name: string, fallback: Channel[]): Channel[] {
  const raw = read(env, name);
  if (raw === null) return fallback;
  const list = raw.split(',').map((c) => c.trim()).filter(Boolean);
  const bad = list.filter((c) => !CHANNELS.includes(c as Channel));
  if (bad.length > 0 || list.length === 0) throw new ConfigError(`${name} must list channels among ${CHANNELS.join(', ')}, got "${raw}"`);
  return [...new Set(list)] as Channel[];
}

function databaseUrl(env: Env, dataDir: string): string {
  const raw = read(env, 'OTPGATE_DATABASE_URL');
  if (raw === null) return `sqlite:${resolve(dataDir, 'otpgate.db')}`;
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) return raw;
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length);
    if (path === ':memory:') return raw;
    if (!path) throw new ConfigError('OTPGATE_DATABASE_URL sqlite: needs a file path');
    return `sqlite:${isAbsolute(path) ? path : resolve(path)}`;
  }
  throw new ConfigError('OTPGATE_DATABASE_URL must start with sqlite: or postgres://');
}

/** A lower-case DNS name: the sandbox's email domain. */
function sandboxDomain(env: Env): string {
  const raw = read(env, 'OTPGATE_SANDBOX_DOMAIN');
  if (raw === null) return 'sandbox.otpgate.test';
  const domain = raw.toLowerCase();
  if (domain.length > 200 || !/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain)) throw new ConfigError(`OTPGATE_SANDBOX_DOMAIN must be a domain name, got "${raw}"`);
  return domain;
}

function httpServer(env: Env): HttpServerTunables {
  const requestTimeoutMs = integer(env, 'OTPGATE_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000);
  const headersTimeoutMs = integer(env, 'OTPGATE_HEADERS_TIMEOUT_MS', Math.min(10_000, requestTimeoutMs), 100, 600_000);
  // Node refuses a headers timeout above the request timeout.
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError(`OTPGATE_HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not exceed OTPGATE_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  return Object.freeze({
    requestTimeoutMs,
    headersTimeoutMs,
    keepAliveTimeoutMs: integer(env, 'OTPGATE_KEEP_ALIVE_TIMEOUT_MS', 72_000, 100, 600_000),
    socketTimeoutMs: integer(env, 'OTPGATE_SOCKET_TIMEOUT_MS', 60_000, 100, 3_600_000),
    maxConnections: integer(env, 'OTPGATE_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
  });
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = resolve(read(env, 'OTPGATE_DATA_DIR') ?? './data');
  const adminToken = read(env, 'OTPGATE_ADMIN_TOKEN');
  if (adminToken !== null && adminToken.length < 16) throw new ConfigError('OTPGATE_ADMIN_TOKEN must be at least 16 characters');
  const serverSecret = read(env, 'OTPGATE_SECRET');
  if (serverSecret !== null && serverSecret.length < 32) throw new ConfigError('OTPGATE_SECRET must be at least 32 characters');
  const config: Config = {
    host: read(env, 'OTPGATE_HOST') ?? '127.0.0.1',
    port: port(env, 'OTPGATE_PORT', 8080),
    dataDir,
    databaseUrl: databaseUrl(env, dataDir),
    redisUrl: url(env, 'OTPGATE_REDIS_URL', ['redis:', 'rediss:']),
    adminToken,
    serverSecret,
    sandboxSmtpPort: sandboxSmtpPortIsOff(read(env, 'OTPGATE_SANDBOX_SMTP_PORT')) ? null : port(env, 'OTPGATE_SANDBOX_SMTP_PORT', 2525),
    sandboxSmtp: sandboxSmtpTunables(
      { read: (n) => read(env, n), integer: (n, f, lo, hi) => integer(env, n, f, lo, hi), fail: (m) => { throw new ConfigError(m); } },
      read(env, 'OTPGATE_HOST') ?? '127.0.0.1',
    ),
    publicUrl: url(env, 'OTPGATE_PUBLIC_URL', ['http:', 'https:']),
    webhookAllowInsecure: read(env, 'OTPGATE_WEBHOOK_ALLOW_INSECURE') === '1',
    httpThread: flag(env, 'OTPGATE_HTTP_THREAD', true),
    webhooks: Object.freeze({
      timeoutMs: integer(env, 'OTPGATE_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      concurrencyPerEndpoint: integer(env, 'OTPGATE_WEBHOOK_CONCURRENCY_PER_ENDPOINT', 16, 1, 100),
      maxInFlight: integer(env, 'OTPGATE_WEBHOOK_MAX_IN_FLIGHT', 256, 1, 10_000),
      pollMs: integer(env, 'OTPGATE_WEBHOOK_POLL_MS', 500, 10, 60_000),
      endpointCacheMs: integer(env, 'OTPGATE_WEBHOOK_ENDPOINT_CACHE_MS', 1_000, 0, 60_000),
      heldRecheckMs: integer(env, 'OTPGATE_WEBHOOK_HELD_RECHECK_MS', 30_000, 1_000, 3_600_000),
      queueMax: integer(env, 'OTPGATE_WEBHOOK_QUEUE_MAX', 10_000, 100, 1_000_000),
    }),
    logLevel: read(env, 'OTPGATE_LOG_LEVEL') ?? 'info',
    bodyLimit: 64 * 1024,
    whatsapp: group(env, 'WhatsApp', ['OTPGATE_WHATSAPP_TOKEN', 'OTPGATE_WHATSAPP_PHONE_NUMBER_ID', 'OTPGATE_WHATSAPP_TEMPLATE'], (get) => ({
      token: get('OTPGATE_WHATSAPP_TOKEN'),
      phoneNumberId: get('OTPGATE_WHATSAPP_PHONE_NUMBER_ID'),
      template: get('OTPGATE_WHATSAPP_TEMPLATE'),
      appSecret: read(env, 'OTPGATE_WHATSAPP_APP_SECRET'),
      verifyToken: read(env, 'OTPGATE_WHATSAPP_VERIFY_TOKEN'),
      baseUrl: url(env, 'OTPGATE_WHATSAPP_BASE_URL', ['http:', 'https:'], 'https://graph.facebook.com/v21.0') as string,
    })),
    twilio: group(env, 'Twilio', ['OTPGATE_TWILIO_ACCOUNT_SID', 'OTPGATE_TWILIO_AUTH_TOKEN', 'OTPGATE_TWILIO_FROM'], (get) => ({
      accountSid: get('OTPGATE_TWILIO_ACCOUNT_SID'),
      authToken: get('OTPGATE_TWILIO_AUTH_TOKEN'),
      from: get('OTPGATE_TWILIO_FROM'),
      baseUrl: url(env, 'OTPGATE_TWILIO_BASE_URL', ['http:', 'https:'], 'https://api.twilio.com') as string,
    })),
    email: group(env, 'Email', ['OTPGATE_SMTP_URL', 'OTPGATE_EMAIL_FROM'], (get) => ({
      smtpUrl: url(env, 'OTPGATE_SMTP_URL', ['smtp:', 'smtps:']) as string,
      from: get('OTPGATE_EMAIL_FROM'),
    })),
    httpProvider: group(env, 'The HTTP provider', ['OTPGATE_HTTP_PROVIDER_URL', 'OTPGATE_HTTP_PROVIDER_SECRET'], (get) => {
      const secret = get('OTPGATE_HTTP_PROVIDER_SECRET');
      if (secret.length < 16) throw new ConfigError('OTPGATE_HTTP_PROVIDER_SECRET must be at least 16 characters');
      return {
        url: url(env, 'OTPGATE_HTTP_PROVIDER_URL', ['http:', 'https:']) as string,
        secret,
        channels: channelList(env, 'OTPGATE_HTTP_PROVIDER_CHANNELS', ['sms']),
      };
    }),
    outboxConcurrency: integer(env, 'OTPGATE_OUTBOX_CONCURRENCY', 4, 1, 64),
    providerCalls: {
      timeoutMs: integer(env, 'OTPGATE_PROVIDER_TIMEOUT_MS', 10_000, 100, 120_000),
      retries: integer(env, 'OTPGATE_PROVIDER_RETRIES', 2, 0, 10),
      backoffMs: integer(env, 'OTPGATE_PROVIDER_BACKOFF_MS', 250, 0, 60_000),
      maxRetryAfterMs: integer(env, 'OTPGATE_PROVIDER_MAX_RETRY_AFTER_MS', 10_000, 0, 600_000),
      breakerFailures: integer(env, 'OTPGATE_PROVIDER_BREAKER_FAILURES', 5, 1, 1_000),
      breakerHalfOpenMs: integer(env, 'OTPGATE_PROVIDER_BREAKER_HALF_OPEN_MS', 30_000, 100, 3_600_000),
    },
    deliverySettingsCacheMs: integer(env, 'OTPGATE_DELIVERY_SETTINGS_CACHE_MS', 5_000, 0, 3_600_000),
    httpServer: httpServer(env),
    outbox: Object.freeze({
      leaseMs: integer(env, 'OTPGATE_OUTBOX_LEASE_MS', 5_000, 1_000, 600_000),
      pollMs: integer(env, 'OTPGATE_OUTBOX_POLL_MS', 500, 10, 60_000),
      gatherMs: integer(env, 'OTPGATE_OUTBOX_GATHER_MS', 5, 0, 1_000),
      batchSize: integer(env, 'OTPGATE_OUTBOX_BATCH_SIZE', 50, 1, 1_000),
    }),
    apiKeyCacheMs: integer(env, 'OTPGATE_API_KEY_CACHE_MS', 500, 0, 60_000),
    sessionCache: Object.freeze({
      maxEntries: integer(env, 'OTPGATE_SESSION_CACHE_MAX_ENTRIES', 50_000, 1, 10_000_000),
      maxAgeMs: integer(env, 'OTPGATE_SESSION_CACHE_MS', 60_000, 1_000, 3_600_000),
    }),
    limitCountersMaxKeys: integer(env, 'OTPGATE_LIMIT_COUNTERS_MAX_KEYS', 100_000, 100, 100_000_000),
    limitCountersFlushMs: integer(env, 'OTPGATE_LIMIT_COUNTERS_FLUSH_MS', 100, 0, 10_000),
    redisConnectTimeoutMs: integer(env, 'OTPGATE_REDIS_CONNECT_TIMEOUT_MS', 2_000, 100, 60_000),
    sqliteCheckpointMs: integer(env, 'OTPGATE_SQLITE_CHECKPOINT_MS', 250, 10, 5_000),
    postgresPoolSize: integer(env, 'OTPGATE_POSTGRES_POOL_SIZE', 10, 1, 1_000),
    postgresGroupCommitMax: integer(env, 'OTPGATE_POSTGRES_GROUP_COMMIT_MAX', 64, 1, 10_000),
    postgresPreparedStatements: integer(env, 'OTPGATE_POSTGRES_PREPARED_STATEMENTS', 500, 0, 100_000),
    housekeepingIntervalMs: integer(env, 'OTPGATE_HOUSEKEEPING_INTERVAL_MS', 600_000, 1_000, 86_400_000),
    eventRetentionDays: integer(env, 'OTPGATE_EVENT_RETENTION_DAYS', 30, 1, 3_650),
    idempotencyLeaseMs: integer(env, 'OTPGATE_IDEMPOTENCY_LEASE_MS', 60_000, 100, 3_600_000),
    shutdownTimeoutMs: integer(env, 'OTPGATE_SHUTDOWN_TIMEOUT_MS', 15_000, 1_000, 600_000),
    expirySweepIntervalMs: integer(env, 'OTPGATE_EXPIRY_SWEEP_INTERVAL_MS', 15_000, 100, 60_000),
    sandboxInboxes: Object.freeze({
      domain: sandboxDomain(env),
      ttlMs: integer(env, 'OTPGATE_SANDBOX_INBOX_TTL_MS', 20 * 60_000, 1_000, 86_400_000),
      regexTimeoutMs: integer(env, 'OTPGATE_SANDBOX_REGEX_TIMEOUT_MS', 50, 1, 1_000),
      sweepIntervalMs: integer(env, 'OTPGATE_SANDBOX_INBOX_SWEEP_INTERVAL_MS', 15_000, 100, 60_000),
    }),
    billingCurrency: currency(env, 'OTPGATE_BILLING_CURRENCY', 'USD'),
    dashboard: Object.freeze({
      sessionIdleMs: integer(env, 'OTPGATE_DASHBOARD_SESSION_IDLE_MS', 30 * 60_000, 60_000, 86_400_000),
      sessionMaxMs: integer(env, 'OTPGATE_DASHBOARD_SESSION_MAX_MS', 12 * 3_600_000, 60_000, 7 * 86_400_000),
      signInAttempts: integer(env, 'OTPGATE_DASHBOARD_SIGNIN_ATTEMPTS', 5, 1, 1_000),
      signInWindowMs: integer(env, 'OTPGATE_DASHBOARD_SIGNIN_WINDOW_MS', 300_000, 1_000, 86_400_000),
      livePollMs: integer(env, 'OTPGATE_DASHBOARD_LIVE_POLL_MS', 1_000, 100, 60_000),
    }),
  };
  return Object.freeze(config);
}
