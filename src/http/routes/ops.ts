import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../../backends.js';
import { problem } from '../../domain/errors.js';
import type { PromMetrics } from '../metrics.js';
import { adminAuth } from '../plugins/auth.js';
import { sendProblem } from '../problem-reply.js';

/** Liveness, readiness, Prometheus metrics (operator only) and the OpenAPI document. */
export async function opsRoutes(app: FastifyInstance, deps: { readiness: () => Promise<Readiness>; metrics: PromMetrics; adminToken: string }): Promise<void> {
  const hide = { schema: { hide: true } };
  app.get('/healthz', hide, async () => ({ status: 'ok' }));

  /** 200 while the database answers (Redis down only degrades: `checks.redis: "down"`), else 503. */
  app.get('/readyz', hide, async (request, reply) => {
    const { ready, checks } = await deps.readiness();
    if (ready) return { status: checks.redis === 'down' ? 'degraded' : 'ready', checks };
    request.log.warn({ checks }, 'readiness: database unreachable');
    return sendProblem(reply, problem('unavailable', 'The database is not reachable.', { checks, retry_after: 1 }));
  });

  app.get('/metrics', { ...hide, onRequest: adminAuth(deps.adminToken) }, async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/openapi.json', hide, async () => app.swagger());
}
