import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { cryptoRandom, systemClock, type Clock, type Random } from './domain/clock.js';
import type { ChannelRegistry } from './delivery/channel.js';
import { deliverMessageHandler, failDeadMessage, MESSAGE_KIND } from './delivery/deliver-message.js';
import { OutboxWorker } from './delivery/outbox-worker.js';
import { PromMetrics } from './http/metrics.js';
import { FlexibleLimits, type Limits } from './limits/limits.js';
import { SandboxChannel } from './sandbox/sandbox-channel.js';
import { generateAdminToken, generateServerSecret, loadOrCreateSecret } from './secrets.js';
import type { ServiceDeps } from './services/context.js';
import { migrateToLatest, openStore, type Store } from './store/database.js';
import { MemorySessionCache } from './services/session-cache.js';
import { SigningKeyRing } from './tokens/signing-keys.js';

export interface Runtime {
  config: Config;
  store: Store;
  services: ServiceDeps;
  worker: OutboxWorker;
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
  liveChannels?: ChannelRegistry;
}

/** Logs never carry keys, session tokens, signatures or codes. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-otp-session"]', 'req.headers["x-signature"]', '*.code', '*.otp_session', '*.key', '*.signing_secret'],
      censor: '[redacted]',
    },
  });
}

/** Opens the store, migrates, loads secrets and wires services, worker and app. Does not listen. */
export async function createRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const store = openStore(config.databaseUrl);
  await migrateToLatest(store.db);

  const admin = config.adminToken ? { value: config.adminToken, created: false } : loadOrCreateSecret(config.dataDir, 'admin-token', generateAdminToken);
  const secret = config.serverSecret ?? loadOrCreateSecret(config.dataDir, 'server-secret', generateServerSecret).value;
  const serverSecret = Buffer.from(secret, 'utf8');

  const limits = options.limits ?? (store.sqlite ? FlexibleLimits.sqlite(store.sqlite) : FlexibleLimits.memory());
  const liveChannels = options.liveChannels ?? {};
  const metrics = new PromMetrics();
  const signingKeys = new SigningKeyRing(store.db, clock, random, serverSecret);
  await signingKeys.ensureKey();
  let worker: OutboxWorker | null = null;
  const services: ServiceDeps = {
    store,
    clock,
    random,
    serverSecret,
    limits,
    liveChannels,
    metrics,
    sessionCache: new MemorySessionCache(50_000, 60_000, () => clock.now()),
    signingKeys,
    issuer: config.publicUrl ?? 'otpgate',
    notifyOutbox: () => worker?.poke(),
  };
  const sandbox = new SandboxChannel(clock, random);
  worker = new OutboxWorker({
    db: store.db,
    postgres: store.dialect === 'postgres',
    clock,
    random,
    logger,
    handlers: {
      [MESSAGE_KIND]: deliverMessageHandler({
        db: store.db,
        clock,
        serverSecret,
        sandbox,
        live: liveChannels,
        onSend: (channel, mode, outcome) => metrics.deliveries.inc({ channel, mode, result: outcome.ok ? outcome.status : 'failed' }),
      }),
    },
    onDead: (trx, row, error) => failDeadMessage(trx, clock, row, error),
  });
  if (options.worker !== false) worker.start();

  const app = await buildApp({ config, services, metrics, adminToken: admin.value, logger });
  const theWorker = worker;
  return {
    config,
    store,
    services,
    worker: theWorker,
    app,
    logger,
    adminToken: admin.value,
    adminTokenCreated: admin.created,
    async close() {
      await app.close();
      await theWorker.stop();
      await store.close();
    },
  };
}
