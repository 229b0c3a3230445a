import type { Kysely } from 'kysely';
import { pipelinedBatch, pipelinedCommitHook, pipelinedKysely, pipelinedTransaction } from './store/pg-pipeline.js';
import { batchedOpenInboxes } from './store/inboxes-repo.js';
import { preparedTransaction } from './store/prepared.js';
import type { Db, Tables } from './store/tables.js';
import { setBillingCurrency } from './billing/currency.js';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { createBackends, type Backends } from './backends.js';
import type { Config } from './config.js';
import { cryptoRandom, systemClock, type Clock, type Random } from './domain/clock.js';
import { maskIdentifier, parseIdentifier } from './domain/identifiers.js';
import type { ChannelRegistry } from './delivery/channel.js';
import { keptReceiptsHint } from './store/deliveries-repo.js';
import { deliverMessageHandler, failDeadMessage, MESSAGE_KIND } from './delivery/deliver-message.js';
import { RECEIPT_TIMEOUT_KIND } from './delivery/enqueue-message.js';
import { ProviderDirectory } from './delivery/providers/directory.js';
import { IntegrationProviders } from './delivery/integration-providers.js';
import { receiptTimeoutHandler } from './delivery/receipt-timeout.js';
import { OutboxWorker } from './delivery/outbox-worker.js';
import { PromMetrics } from './http/metrics.js';
import type { Limits } from './limits/limits.js';
import { SandboxChannel } from './sandbox/sandbox-channel.js';
import { InboxWaiters } from './sandbox/inbox-waiters.js';
import type { InboxSettings } from './services/inbox-settings.js';
import { startInboxSweeper } from './services/inbox-sweeper.js';
import { startSandboxSmtp } from './sandbox/sandbox-smtp.js';
import type { SmtpListener } from './sandbox/smtp-listener.js';
import { generateAdminToken, loadOrCreateSecret, loadServerSecret, requireSharedSecret } from './secrets.js';
import type { ServiceDeps } from './services/context.js';
import { migrateToLatest, openStore, type Store } from './store/database.js';
import { startHousekeeping } from './store/housekeeping.js';
import { startExpirySweeper } from './services/expiry-sweeper.js';
import { SigningKeyRing } from './tokens/signing-keys.js';
import type { HostLookup } from './net/url-guard.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { configureFanOut, forgetEndpoints, onFanOut, type WebhookHandoff } from './webhooks/fan-out.js';
import { useHttpThread } from './net/http-thread.js';

export interface Runtime {
  config: Config;
  store: Store;
  backends: Backends;
  services: ServiceDeps;
  worker: OutboxWorker;
  /** Sends webhook deliveries (runs when the worker does; tests drain it). */
  webhooks: WebhookDispatcher;
  providers: ProviderDirectory;
  app: FastifyInstance;
  logger: Logger;
  adminToken: string;
  adminTokenCreated: boolean;
  /**
   * Starts the sandbox SMTP listener (OTPGATE_SANDBOX_SMTP_PORT; null when `off`); `serve` calls it,
   * tests may. Once: a second call answers the same listener. `close()` stops it first.
   */
  listenSmtp(): Promise<SmtpListener | null>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Start the in-process outbox worker (default true). */
  worker?: boolean;
  limits?: Limits;
  /** Live adapters by channel, in place of the configured providers' (tests). */
  liveChannels?: ChannelRegistry;
  /** Outbox lease (ms) after which another worker may take a claimed message, in place of `config.outbox.leaseMs` (tests). */
  leaseMs?: number;
  /** How webhook URLs' host names are resolved when saved, in place of the system resolver (tests). */
  webhookLookup?: HostLookup;
  /** How they are resolved when connecting, in place of the system resolver (tests: DNS rebinding). */
  webhookConnectLookup?: HostLookup;
}

/** Logs never carry keys, session tokens, signatures or codes, nor phones, emails or CPFs in clear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: {
      // Paths, not bare names: `err.code` (an error code) must stay readable.
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-otp-session"]', 'req.headers["x-signature"]', 'body.code', 'payload.code', '*.otp_session', '*.signing_secret', '*.access_token'],
      censor: '[redacted]',
    },
    // These win over Fastify's own `req`/`err` serializers (it merges the instance's on top).
    serializers: { req: serializeRequest, err: serializeError, error: maskIdentifiersInLogValue },
  };
  return destination ? pino(options, destination) : pino(options);
}

// Identifier-looking text, wherever it sits: E.164-style phones (only `+`-prefixed numbers are
// phones here), emails (anything@domain.tld) and CPFs (11 digits, dotted or bare).
const LOGGED_EMAIL = /[^\s@/?&=#;,:"'<>()[\]]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const LOGGED_PHONE = /\+\d[\d ().-]{5,}\d/g;
const LOGGED_CPF = /(?<![\w.-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w-])/g;

/** Masks every phone, email and CPF in free text (log fields, URLs once decoded). */
export function maskIdentifiersInText(text: string): string {
  if (!/[@+\d]/.test(text)) return text;
  return text
    .replace(LOGGED_EMAIL, (match) => maskLooseIdentifier(match, 'email'))
    .replace(LOGGED_PHONE, (match) => maskLooseIdentifier(match, 'phone'))
    .replace(LOGGED_CPF, (match) => maskLooseIdentifier(match, 'cpf'));
}

function maskLooseIdentifier(text: string, kind: 'phone' | 'email' | 'cpf'): string {
  const parsed = parseIdentifier(text);
  if (parsed.ok) return maskIdentifier(parsed.identifier);
  // Not valid, still personal: the same shapes maskIdentifier gives.
  if (kind === 'email') {
    const at = text.lastIndexOf('@');
    const local = text.slice(0, at);
    return `${local.length > 1 ? local.slice(0, 1) : ''}***@${text.slice(at + 1)}`;
  }
  const digits = text.replace(/\D/g, '');
  if (kind === 'phone') return `+${digits.slice(0, 2)}${'*'.repeat(Math.max(digits.length - 6, 1))}${digits.slice(-4)}`;
  return `***.***.*${digits.slice(7, 9)}-${digits.slice(9, 11)}`;
}

/** A request URL for the log: path segments and query values holding identifiers are masked. */
export function maskUrlForLog(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const maskedPath = path.split('/').map(maskUrlComponent).join('/');
  if (q < 0) return maskedPath;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? maskUrlComponent(pair) : `${pair.slice(0, eq + 1)}${maskUrlComponent(pair.slice(eq + 1))}`;
    })
    .join('&');
  return `${maskedPath}?${query}`;
}

/** One URL component: decoded (a literal `+` stays a `+`, as phones are written), masked if it holds an identifier. */
function maskUrlComponent(component: string): string {
  let decoded = component;
  try {
    decoded = decodeURIComponent(component);
  } catch {
    // Malformed escapes: mask the raw text.
  }
  const masked = maskIdentifiersInText(decoded);
  return masked !== decoded ? masked : maskIdentifiersInText(component);
}

interface LoggedRequest {
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request serializer, with the URL's identifiers masked. */
function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  if (req === null || typeof req !== 'object') return { value: req };
  return {
    method: req.method,
    url: typeof req.url === 'string' ? maskUrlForLog(req.url) : req.url,
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** pino's error serializer, with identifiers in the message and stack masked (provider errors quote numbers). */
function serializeError(err: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(err as Error);
  if (serialized === null || typeof serialized !== 'object') return maskIdentifiersInLogValue(serialized);
  const out = { ...(serialized as Record<string, unknown>) };
  for (const key of ['message', 'stack'] as const) if (typeof out[key] === 'string') out[key] = maskIdentifiersInText(out[key]);
  return out;
}

function maskIdentifiersInLogValue(value: unknown): unknown {
  if (typeof value === 'string') return maskIdentifiersInText(value);
  if (value instanceof Error) return serializeError(value);
  return value;
}

/** Opens the store, migrates, loads secrets and wires services, worker and app. Does not listen. */
export async function createRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  requireSharedSecret(config);
  setBillingCurrency(config.billingCurrency);
  useHttpThread(config.httpThread); // before any provider or webhook client is made
  const store = openStore(config.databaseUrl, {
    poolSize: config.postgresPoolSize,
    groupCommitMax: config.postgresGroupCommitMax,
    preparedStatements: config.postgresPreparedStatements,
    backgroundCheckpoint: { intervalMs: config.sqliteCheckpointMs, onError: (message) => logger.warn({ err: message }, 'background WAL checkpoint failed; the server checkpoints itself meanwhile') },
  });
  await migrateToLatest(store.db);

  const admin = config.adminToken ? { value: config.adminToken, created: false } : loadOrCreateSecret(config.dataDir, 'admin-token', generateAdminToken);
  const serverSecret = await loadServerSecret(config, store.db, random).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });

  const backends = await createBackends(config, store, clock, logger, { limits: options.limits });
  const metrics = new PromMetrics();
  if (store.pgGroupCommit) metrics.watchGroupCommit(store.pgGroupCommit.stats);
  const providers = ProviderDirectory.fromConfig(config, (attempt) => metrics.observeProviderAttempt(attempt));
  const liveChannels: ChannelRegistry = { ...providers.registry, ...options.liveChannels };
  const integrationProviders = new IntegrationProviders({
    db: store.db,
    serverSecret,
    directory: providers,
    config,
    clock,
    registry: liveChannels,
    observe: (attempt) => metrics.observeProviderAttempt(attempt),
  });
  // Operator writes publish 'keys' (every process): forget cached provider settings too.
  backends.notifier.subscribe('keys', () => integrationProviders.invalidate());
  const observer = { fallback: (from: string, to: string, reason: string) => metrics.fallbacks.labels(from, to, reason).inc() };
  const postgres = store.dialect === 'postgres';
  const signingKeys = new SigningKeyRing(store.db, clock, random, serverSecret);
  await signingKeys.ensureKey();
  const keptReceipts = await keptReceiptsHint(store.db, postgres);
  // Sandbox inboxes: a change is announced on the notifier (every process), and each process wakes its own long-pollers.
  const inboxWaiters = new InboxWaiters();
  backends.notifier.subscribe('inbox', (inboxId) => inboxWaiters.wake(inboxId));
  const inboxes: InboxSettings = {
    ...config.sandboxInboxes,
    waiters: inboxWaiters,
    announce: (inboxId) => backends.notifier.publish('inbox', inboxId),
    // A held request answers a second before the server would close its silent socket.
    maxWaitMs: Math.max(0, config.httpServer.socketTimeoutMs - 1_000),
  };
  // Commit hooks let the dispatcher take fresh deliveries from the transactions that write them
  // (fan-out.ts, WebhookHandoff): the embedded store's group commit, Postgres's pipelined transactions.
  const sqliteGroup = store.sqliteDriver?.group;
  const webhookHandoff: WebhookHandoff = {
    claim: (endpointId) => webhooks.claimForHandoff(endpointId),
    commitHook: sqliteGroup ? () => (work) => sqliteGroup.afterCommit(work) : (db) => pipelinedCommitHook(db),
    take: (row, event) => webhooks.take(row, event),
  };
  const services: ServiceDeps = {
    store,
    webhookHandoff,
    keptReceipts,
    clock,
    random,
    serverSecret,
    limits: backends.limits,
    counters: backends.counters,
    liveChannels,
    liveChannelsFor: (integrationId) => integrationProviders.channels(integrationId),
    metrics,
    sessionCache: backends.sessionCache,
    signingKeys,
    issuer: config.publicUrl ?? 'otpgate',
    logger,
    inboxes,
    notifyOutbox: () => backends.notifier.publish('outbox'),
    outbox: options.worker === false ? undefined : { claim: () => worker.claimForHandoff(), handoff: (row) => worker.handoff(row) },
  };
  const pgPool = store.pgPool;
  const worker = new OutboxWorker({
    db: store.db,
    postgres: store.dialect === 'postgres',
    ...(pgPool ? { pipelined: <T>(work: (db: Db) => Promise<T>) => pipelinedTransaction(store.db as unknown as Kysely<never>, pgPool, (trx) => work(pipelinedKysely<Tables>(trx))) } : {}),
    clock,
    random,
    logger,
    leaseMs: options.leaseMs ?? config.outbox.leaseMs,
    pollMs: config.outbox.pollMs,
    gatherMs: config.outbox.gatherMs,
    batch: config.outbox.batchSize,
    concurrency: config.outboxConcurrency,
    handlers: {
      [MESSAGE_KIND]: deliverMessageHandler({
        db: store.db,
        clock,
        random,
        observer,
        postgres,
        keptReceipts,
        webhookHandoff,
        serverSecret,
        sandbox: new SandboxChannel(clock, random, { ...inboxes, db: postgres ? batchedOpenInboxes(store.db) : store.db }),
        live: (integrationId, channel) => integrationProviders.adapter(integrationId, channel),
        customisation: (integrationId) => integrationProviders.customisation(integrationId),
        onSend: (channel, mode, outcome) => metrics.delivered(channel, mode, outcome.ok ? outcome.status : 'failed'),
      }),
      [RECEIPT_TIMEOUT_KIND]: receiptTimeoutHandler({ db: store.db, clock, random, observer, postgres }),
    },
    onDead: (trx, row, error) => failDeadMessage(trx, { clock, random, observer, postgres }, row, error),
  });
  const webhooks = new WebhookDispatcher({
    db: store.db,
    postgres,
    clock,
    random,
    logger,
    serverSecret,
    allowInsecure: config.webhookAllowInsecure,
    ...(options.webhookConnectLookup ? { connectLookup: options.webhookConnectLookup } : {}),
    tunables: config.webhooks,
    onAttempt: (result) => metrics.webhookAttempts.inc({ result }),
    // Attempts' records are single UPDATEs: on Postgres those ending together go as one implicit
    // transaction (one round trip, committed or failed together) instead of BEGIN … and a COMMIT of its own.
    transact: pgPool ? (work) => pipelinedBatch(store.db as unknown as Kysely<never>, pgPool, work) : (work) => preparedTransaction(store, work),
  });
  configureFanOut({ cacheMs: config.webhooks.endpointCacheMs });
  backends.notifier.subscribe('webhooks', () => {
    forgetEndpoints();
    webhooks.forgetEndpoints();
  });
  const stopFanOutWake = onFanOut((endpointId) => webhooks.poke(endpointId));
  if (config.webhookAllowInsecure) {
    logger.warn('OTPGATE_WEBHOOK_ALLOW_INSECURE=1: webhook URLs may use http and private or loopback addresses (SSRF guard off); for local development and tests only');
  }
  let stopHousekeeping = (): void => {};
  let stopExpirySweeper = async (): Promise<void> => {};
  let stopInboxSweeper = async (): Promise<void> => {};
  if (options.worker !== false) {
    webhooks.start();
    backends.notifier.subscribe('outbox', () => worker.poke());
    worker.start();
    stopHousekeeping = startHousekeeping(store.db, clock, logger, config.housekeepingIntervalMs, config.eventRetentionDays);
    stopExpirySweeper = startExpirySweeper({ store, clock, random }, logger, config.expirySweepIntervalMs);
    stopInboxSweeper = startInboxSweeper({ store, clock, random, announce: inboxes.announce }, logger, config.sandboxInboxes.sweepIntervalMs);
  }

  const app = await buildApp({
    config,
    services,
    metrics,
    adminToken: admin.value,
    logger,
    notifier: backends.notifier,
    readiness: backends.readiness,
    replays: backends.replays,
    providers: () => providers.status(),
    observer,
    integrationProviders,
    webhooks: {
      poke: () => webhooks.poke(),
      changed: (scope) => {
        // This process forgets at once (fan-out and dispatcher alike); the others when the notice reaches them.
        forgetEndpoints(scope);
        webhooks.forgetEndpoints();
        backends.notifier.publish('webhooks');
      },
      timeoutMs: config.webhooks.timeoutMs,
      ...(options.webhookLookup ? { lookup: options.webhookLookup } : {}),
      ...(options.webhookConnectLookup ? { connectLookup: options.webhookConnectLookup } : {}),
    },
  });
  let smtp: Promise<SmtpListener | null> | undefined;
  return {
    config,
    store,
    backends,
    services,
    worker,
    webhooks,
    providers,
    app,
    logger,
    adminToken: admin.value,
    adminTokenCreated: admin.created,
    listenSmtp() {
      smtp ??= startSandboxSmtp(config, services, logger);
      return smtp;
    },
    async close() {
      await smtp?.then((listener) => listener?.close(), () => {});
      stopHousekeeping();
      await stopExpirySweeper();
      await stopInboxSweeper();
      await app.close();
      await worker.stop();
      stopFanOutWake();
      await webhooks.stop();
      await integrationProviders.close();
      await providers.close();
      await backends.notifier.close();
      await backends.close();
      await store.close();
    },
  };
}
