import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { PromMetrics } from './http/metrics.js';
import { ApiKeyCache, integrationAuth } from './http/plugins/auth.js';
import { OperatorSessions, SESSION_COOKIE, operatorAuth, registerOperatorCredentials } from './http/plugins/operator-session.js';
import { dashboardRoutes } from './http/routes/dashboard.js';
import { adminIntegrationDataRoutes } from './http/routes/admin/integration-data.js';
import { adminSigningKeyRoutes } from './http/routes/admin/signing-keys.js';
import { adminVerificationLogRoutes } from './http/routes/admin/verification-log.js';
import { answerClientError, frameworkErrorProblem, registerErrorHandling } from './http/plugins/error-handler.js';
import { registerIdempotency } from './http/plugins/idempotency.js';
import { adminResources, integrationResources } from './http/plugins/idempotency-resources.js';
import { registerSignatures } from './http/plugins/signatures.js';
import { adminDeliveryRoutes } from './http/routes/admin/delivery.js';
import { adminSandboxNumberRoutes } from './http/routes/admin/sandbox-numbers.js';
import { adminBillingRoutes } from './http/routes/admin/billing.js';
import { adminStatsRoutes } from './http/routes/admin/stats.js';
import { adminIntegrationRoutes } from './http/routes/admin/integrations.js';
import { opsRoutes } from './http/routes/ops.js';
import { providerRoutes } from './http/routes/providers.js';
import { inboundSmsRoutes } from './http/routes/inbound-sms.js';
import type { DeliveryObserver } from './delivery/delivery-outcomes.js';
import type { ProviderStatus } from './delivery/providers/directory.js';
import type { IntegrationProviders } from './delivery/integration-providers.js';
import { policyRoutes } from './http/routes/v1/policy.js';
import { sandboxRoutes } from './http/routes/v1/sandbox.js';
import { inboxRoutes } from './http/routes/v1/inboxes.js';
import { sessionRoutes } from './http/routes/v1/sessions.js';
import { identityRoutes } from './http/routes/v1/identities.js';
import { tokenRoutes } from './http/routes/v1/tokens.js';
import { billingRoutes } from './http/routes/v1/billing.js';
import { verificationRoutes } from './http/routes/v1/verifications.js';
import { webhookRoutes } from './http/routes/v1/webhook.js';
import type { HostLookup } from './net/url-guard.js';
import type { Scope } from './store/verifications-repo.js';
import { registerValidation } from './http/validation.js';
import { sendProblem } from './http/problem-reply.js';
import { problem } from './domain/errors.js';
import type { Readiness } from './backends.js';
import type { ReplayGuard } from './limits/replay-guard.js';
import type { Notifier } from './pubsub.js';
import type { ServiceDeps } from './services/context.js';

export interface AppDeps {
  config: Pick<Config, 'bodyLimit' | 'whatsapp' | 'twilio' | 'publicUrl' | 'webhookAllowInsecure' | 'httpServer' | 'idempotencyLeaseMs'> & Partial<Pick<Config, 'apiKeyCacheMs' | 'dashboard'>>;
  services: ServiceDeps;
  metrics: PromMetrics;
  adminToken: string;
  logger: Logger;
  notifier: Notifier;
  readiness: () => Promise<Readiness>;
  /** Remembers accepted request signatures (replay protection). */
  replays: ReplayGuard;
  /** Live providers (channels, circuits) for /readyz and the policy's live channels. */
  providers?: () => ProviderStatus[];
  observer?: DeliveryObserver;
  /** Integrations' own provider settings (callback secrets; invalidated by operator writes). */
  integrationProviders?: IntegrationProviders;
  /** Outgoing webhooks: the dispatcher's wake-up, what to do when an endpoint changes, and the attempt timeout. */
  webhooks?: { poke: () => void; changed: (scope: Scope) => void; timeoutMs: number; lookup?: HostLookup; connectLookup?: HostLookup };
}

/** The operator console's defaults when the caller's config has none (tests that build the app by hand). */
const DASHBOARD_DEFAULTS: Config['dashboard'] = { sessionIdleMs: 30 * 60_000, sessionMaxMs: 12 * 3_600_000, signInAttempts: 5, signInWindowMs: 300_000, livePollMs: 1_000 };

/** The integrator and operator APIs (not /healthz, /docs, /.well-known). */
const API_PATH = /^\/(?:v1|admin)(?:[/?#]|$)/;

/** Builds the Fastify app; never listens (tests use inject or their own port). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const limits = deps.config.httpServer;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    trustProxy: false,
    return503OnClosing: false, // answered below as a problem, with Connection: close
    forceCloseConnections: 'idle',
    // Slow clients: a request (headers, body) not received in time is answered 408 and closed; idle
    // keep-alive connections and silent sockets are closed; connections beyond a cap are refused.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.socketTimeoutMs,
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      // Node enforces both timeouts on this tick (default 30 s, which would let a 1 s timeout run 31 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    // Refusals from Node's parser and from the router are RFC 9457 problems that echo nothing.
    clientErrorHandler: answerClientError,
    frameworkErrors: frameworkErrorProblem,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.maxConnections = limits.maxConnections;

  registerValidation(app);
  registerErrorHandling(app);

  // Graceful shutdown: once close() starts, new requests get a 503 problem and every response
  // carries Connection: close, so busy keep-alive connections end and close() can finish.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    sendProblem(reply, problem('unavailable', 'The server is shutting down; retry on another instance.', { retry_after: 1 }));
  });

  // JSON bodies: an empty body reads as no body (bodiless POSTs such as cancel are fine).
  // The exact bytes are kept for request signatures (hex SHA-256 of the raw body).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const text = body.toString();
    if (text.trim() === '') return done(null, undefined);
    return parseJson(request, text, done);
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    // API answers carry keys, secrets, sessions, tokens and codes: never stored by any cache, unless
    // a route says otherwise (the JWKS).
    if (API_PATH.test(request.url) && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'otpgate', version: '1', description: 'Self-hosted OTP verification gateway. The contract is docs/api.md in the repository.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await opsRoutes(app, { readiness: deps.readiness, metrics: deps.metrics, adminToken: deps.adminToken, providers: deps.providers ?? (() => []) });
  app.get('/.well-known/jwks.json', { schema: { tags: ['otp gate'], summary: 'Public keys that sign access tokens' } }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return deps.services.signingKeys.jwks();
  });

  await app.register(providerRoutes({ config: deps.config, services: deps.services, ...(deps.observer ? { observer: deps.observer } : {}), ...(deps.integrationProviders ? { secrets: deps.integrationProviders } : {}) }));
  await app.register(inboundSmsRoutes({ config: deps.config, services: deps.services }));

  const { store, clock, random, serverSecret } = deps.services;
  const webhookDeps = {
    db: store.db,
    clock,
    random,
    serverSecret,
    allowInsecure: deps.config.webhookAllowInsecure,
    timeoutMs: deps.webhooks?.timeoutMs ?? 10_000,
    changed: deps.webhooks?.changed ?? (() => {}),
    poke: deps.webhooks?.poke ?? (() => {}),
    ...(deps.webhooks?.lookup ? { lookup: deps.webhooks.lookup } : {}),
    ...(deps.webhooks?.connectLookup ? { connectLookup: deps.webhooks.connectLookup } : {}),
  };

  const keyCache = new ApiKeyCache(deps.config.apiKeyCacheMs);
  deps.notifier.subscribe('keys', () => keyCache.clear());
  await app.register(async (v1) => {
    v1.addHook('onRequest', integrationAuth(deps.services.store.db, keyCache));
    registerSignatures(v1, { clock: deps.services.clock, serverSecret: deps.services.serverSecret, replays: deps.replays });
    registerIdempotency(v1, { ...deps.services, leaseMs: deps.config.idempotencyLeaseMs, resources: integrationResources(deps.services) });
    await v1.register(verificationRoutes(deps.services));
    await v1.register(policyRoutes(deps.services));
    await v1.register(sandboxRoutes(deps.services));
    await v1.register(inboxRoutes(deps.services));
    await v1.register(sessionRoutes(deps.services));
    await v1.register(identityRoutes(deps.services));
    await v1.register(tokenRoutes(deps.services));
    await v1.register(billingRoutes(deps.services));
    await v1.register(webhookRoutes(webhookDeps));
  });

  // The operator console (/dashboard): its session cookie and CSRF token are an operator credential too.
  const consoleSettings = deps.config.dashboard ?? DASHBOARD_DEFAULTS;
  const sessions = new OperatorSessions({
    serverSecret: deps.services.serverSecret,
    adminToken: deps.adminToken,
    idleMs: consoleSettings.sessionIdleMs,
    maxMs: consoleSettings.sessionMaxMs,
    secure: deps.config.publicUrl?.startsWith('https:') ?? false,
    now: () => Date.now(),
    notifier: deps.notifier,
  });
  await app.register(dashboardRoutes({ sessions, signInAttempts: consoleSettings.signInAttempts, signInWindowMs: consoleSettings.signInWindowMs }));

  await app.register(async (admin) => {
    await registerOperatorCredentials(admin, sessions);
    admin.addHook('onRequest', operatorAuth(admin, sessions));
    const adminDeps = { db: deps.services.store.db, clock: deps.services.clock, random: deps.services.random, serverSecret: deps.services.serverSecret };
    registerIdempotency(admin, { ...deps.services, leaseMs: deps.config.idempotencyLeaseMs, resources: adminResources(adminDeps) });
    // Every operator write may revoke a key or change a policy: forget cached keys at once.
    admin.addHook('onSend', async (request, _reply, payload) => {
      if (request.method !== 'GET') {
        keyCache.clear();
        deps.notifier.publish('keys'); // the other processes of a deployment
      }
      return payload;
    });
    await admin.register(adminIntegrationRoutes({ db: deps.services.store.db, clock: deps.services.clock, random: deps.services.random, serverSecret: deps.services.serverSecret }));
    await admin.register(adminDeliveryRoutes({ db: deps.services.store.db, clock: deps.services.clock, random: deps.services.random, serverSecret: deps.services.serverSecret, allowInsecure: deps.config.webhookAllowInsecure, invalidate: (id) => deps.integrationProviders?.invalidate(id) }));
    await admin.register(adminBillingRoutes({ db: deps.services.store.db, clock: deps.services.clock, random: deps.services.random }));
    await admin.register(adminStatsRoutes({ db: deps.services.store.db, clock: deps.services.clock }));
    await admin.register(adminSandboxNumberRoutes({ db: deps.services.store.db, clock: deps.services.clock }));
    await admin.register(adminIntegrationDataRoutes(deps.services, webhookDeps));
    await admin.register(
      adminVerificationLogRoutes(deps.services, {
        livePollMs: consoleSettings.livePollMs,
        stillSignedIn: (request) => request.operatorSession === undefined || sessions.read(request.cookies[SESSION_COOKIE]) !== null,
      }),
    );
    await admin.register(
      adminSigningKeyRoutes({ db: deps.services.store.db, clock: deps.services.clock, signingKeys: deps.services.signingKeys, metrics: deps.metrics, providers: deps.providers ?? (() => []) }),
    );
  });

  return app;
}
