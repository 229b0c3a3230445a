import type { FastifyInstance } from 'fastify';
import type { Readiness } from '../../backends.js';
import type { ProviderStatus } from '../../delivery/providers/directory.js';
import { problem } from '../../domain/errors.js';
import type { PromMetrics } from '../metrics.js';
import { adminAuth } from '../plugins/auth.js';
import { sendProblem } from '../problem-reply.js';

/** Liveness, readiness, Prometheus metrics (operator only) and the OpenAPI document. */
export async function opsRoutes(app: FastifyInstance, deps: { readiness: () => Promise<Readiness>; metrics: PromMetrics; adminToken: string; providers: () => ProviderStatus[] }): Promise<void> {
  const hide = { schema: { hide: true } };
  app.get('/healthz', hide, async () => ({ status: 'ok' }));

  /**
   * 200 while the database answers (Redis down only degrades: `checks.redis: "down"`), else 503.
   * `providers` lists the live providers, the channels each carries and its circuit; an open circuit
   * degrades (traffic goes to the next channel) but does not make the server unready.
   */
  app.get('/readyz', hide, async (request, reply) => {
    const { ready, checks } = await deps.readiness();
    const providers = deps.providers();
    const openCircuits = providers.filter((p) => p.circuit !== 'closed').map((p) => p.name);
    for (const p of providers) deps.metrics.circuitOpen.labels(p.name).set(p.circuit === 'closed' ? 0 : 1);
    const degraded = checks.redis === 'down' || openCircuits.length > 0;
    if (ready) return { status: degraded ? 'degraded' : 'ready', checks, providers, open_circuits: openCircuits };
    request.log.warn({ checks }, 'readiness: database unreachable');
    return sendProblem(reply, problem('unavailable', 'The database is not reachable.', { checks, retry_after: 1 }));
  });

  app.get('/metrics', { ...hide, onRequest: adminAuth(deps.adminToken) }, async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/openapi.json', hide, async () => app.swagger());
}
