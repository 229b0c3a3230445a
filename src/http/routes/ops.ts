import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { problem } from '../../domain/errors.js';
import type { Store } from '../../store/database.js';
import type { PromMetrics } from '../metrics.js';
import { adminAuth } from '../plugins/auth.js';
import { sendProblem } from '../problem-reply.js';

/** Liveness, readiness, Prometheus metrics (operator only) and the OpenAPI document. */
export async function opsRoutes(app: FastifyInstance, deps: { store: Store; metrics: PromMetrics; adminToken: string }): Promise<void> {
  const hide = { schema: { hide: true } };
  app.get('/healthz', hide, async () => ({ status: 'ok' }));

  app.get('/readyz', hide, async (request, reply) => {
    try {
      await sql`select 1`.execute(deps.store.db);
      return { status: 'ready', checks: { database: 'ok' } };
    } catch (err) {
      request.log.warn({ err }, 'readiness: database unreachable');
      return sendProblem(reply, problem('unavailable', 'The database is not reachable.', { checks: { database: 'down' } }));
    }
  });

  app.get('/metrics', { ...hide, onRequest: adminAuth(deps.adminToken) }, async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/openapi.json', hide, async () => app.swagger());
}
