import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { createBackends, type Backends } from './backends.js';
import type { Config } from './config.js';
import { cryptoRandom, systemClock, type Clock, type Random } from './domain/clock.js';
import type { ChannelRegistry } from './delivery/channel.js';
import { deliverMessageHandler, failDeadMessage, MESSAGE_KIND } from './delivery/deliver-message.js';
import { RECEIPT_TIMEOUT_KIND } from './delivery/enqueue-message.js';
import { ProviderDirectory } from './delivery/providers/directory.js';
import { IntegrationProviders } from './delivery/integration-providers.js';
import { receiptTimeoutHandler } from './delivery/receipt-timeout.js';
import { OutboxWorker } from './delivery/outbox-worker.js';
import { PromMetrics } from './http/metrics.js';
import type { Limits } from './limits/limits.js';
import { SandboxChannel } from './sandbox/sandbox-channel.js';
import { generateAdminToken, loadOrCreateSecret, loadServerSecret, requireSharedSecret } from './secrets.js';
import type { ServiceDeps } from './services/context.js';
import { migrateToLatest, openStore, type Store } from './store/database.js';
import { startHousekeeping } from './store/housekeeping.js';
import { SigningKeyRing } from './tokens/signing-keys.js';

export interface Runtime {
  config: Config;
  store: Store;
  backends: Backends;
  services: ServiceDeps;
  worker: OutboxWorker;
  providers: ProviderDirectory;
  app: FastifyInstance;
  logger: Logger;
  adminToken: string;
  adminTokenCreated: boolean;
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
  /** Outbox lease (ms) after which another worker may take a claimed message (default 30 s). */
  leaseMs?: number;
}

/** Logs never carry keys, session tokens, signatures or codes. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      // Paths, not bare names: `err.code` (an error code) must stay readable.
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-otp-session"]', 'req.headers["x-signature"]', 'body.code', 'payload.code', '*.otp_session', '*.signing_secret', '*.access_token'],
      censor: '[redacted]',
    },
  });
}

/** Opens the store, migrates, loads secrets and wires services, worker and app. Does not listen. */
export async function createRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  requireSharedSecret(config);
  const store = openStore(config.databaseUrl, {
    backgroundCheckpoint: { onError: (message) => logger.warn({ err: message }, 'background WAL checkpoint failed; the server checkpoints itself meanwhile') },
  });
  await migrateToLatest(store.db);

  const admin = config.adminToken ? { value: config.adminToken, created: false } : loadOrCreateSecret(config.dataDir, 'admin-token', generateAdminToken);
  const serverSecret = await loadServerSecret(config, store.db, random).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });

  const backends = await createBackends(config, store, clock, logger, { limits: options.limits });
  const metrics = new PromMetrics();
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
  const services: ServiceDeps = {
    store,
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
    notifyOutbox: () => backends.notifier.publish('outbox'),
    outbox: options.worker === false ? undefined : { claim: () => worker.claimForHandoff(), handoff: (row) => worker.handoff(row) },
  };
  const worker = new OutboxWorker({
    db: store.db,
    postgres: store.dialect === 'postgres',
    clock,
    random,
    logger,
    leaseMs: options.leaseMs,
    concurrency: config.outboxConcurrency,
    handlers: {
      [MESSAGE_KIND]: deliverMessageHandler({
        db: store.db,
        clock,
        random,
        observer,
        postgres,
        serverSecret,
        sandbox: new SandboxChannel(clock, random),
        live: (integrationId, channel) => integrationProviders.adapter(integrationId, channel),
        customisation: (integrationId) => integrationProviders.customisation(integrationId),
        onSend: (channel, mode, outcome) => metrics.deliveries.inc({ channel, mode, result: outcome.ok ? outcome.status : 'failed' }),
      }),
      [RECEIPT_TIMEOUT_KIND]: receiptTimeoutHandler({ db: store.db, clock, random, observer, postgres }),
    },
    onDead: (trx, row, error) => failDeadMessage(trx, { clock, random, observer, postgres }, row, error),
  });
  let stopHousekeeping = (): void => {};
  if (options.worker !== false) {
    backends.notifier.subscribe('outbox', () => worker.poke());
    worker.start();
    stopHousekeeping = startHousekeeping(store.db, clock, logger);
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
  });
  return {
    config,
    store,
    backends,
    services,
    worker,
    providers,
    app,
    logger,
    adminToken: admin.value,
    adminTokenCreated: admin.created,
    async close() {
      stopHousekeeping();
      await app.close();
      await worker.stop();
      await integrationProviders.close();
      await providers.close();
      await backends.notifier.close();
      await backends.close();
      await store.close();
    },
  };
}
