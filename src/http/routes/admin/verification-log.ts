import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { ServiceDeps } from '../../../services/context.js';
import { eventsSince, operatorTenant, searchVerifications, verificationDetail } from '../../../services/operator-views.js';
import { sendProblem } from '../../problem-reply.js';
import { ListQuery, NullableString, StringEnum, VerificationSchema, errorResponses } from '../../schemas.js';
import { IdParams, ModeField, asIntegration } from './integration-data.js';

const closed = { additionalProperties: false } as const;
const tags = ['operator'];

const SearchQuery = Type.Object(
  {
    mode: Type.Optional(ModeField),
    identifier: Type.Optional(Type.String({ maxLength: 320, description: 'Any spelling of the identifier (matched as the pending look-up matches it).' })),
    id: Type.Optional(Type.String({ pattern: '^ver_[0-9A-Za-z]{1,64}$' })),
    status: Type.Optional(StringEnum(['pending', 'approved', 'canceled', 'expired', 'failed'] as const)),
    channel: Type.Optional(StringEnum(['whatsapp', 'sms', 'email'] as const, { description: 'The first channel the send went to.' })),
    from: Type.Optional(Type.String({ maxLength: 40, description: 'Created at or after (RFC 3339).' })),
    to: Type.Optional(Type.String({ maxLength: 40, description: 'Created before (RFC 3339).' })),
    ...ListQuery,
  },
  closed,
);
const SummarySchema = Type.Object({
  id: Type.String(),
  status: Type.String(),
  failure_reason: NullableString(),
  identifier: Type.String(),
  channel: Type.String(),
  action: Type.String(),
  country: NullableString(),
  attempts: Type.Integer(),
  sends: Type.Integer(),
  expires_at: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const EventSchema = Type.Object({ id: Type.String(), type: Type.String(), created_at: Type.String(), data: Type.Unknown() });

/** The operator's verification log and the live feed of an integration's events. */
export interface VerificationLogOptions {
  livePollMs: number;
  /** Whether the credential a live stream was opened with still holds (a console session can lapse or be signed out meanwhile). */
  stillSignedIn?: (request: FastifyRequest) => boolean;
}

export const adminVerificationLogRoutes = (deps: ServiceDeps, options: VerificationLogOptions): FastifyPluginAsyncTypebox => async (app) => {
  const db = deps.store.db;
  /** Open live streams, ended when the server closes (an event stream is never idle, so close() would wait on it). */
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });

  app.get(
    '/admin/v1/integrations/:id/verifications',
    {
      schema: {
        tags,
        summary: "Search an integration's verifications, newest first",
        params: IdParams,
        querystring: SearchQuery,
        response: { 200: Type.Object({ data: Type.Array(SummarySchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { mode, limit, ...filters } = request.query;
      return asIntegration(db, reply, request.params.id, mode, (t) => searchVerifications({ db, clock: deps.clock }, t, { ...filters, limit: limit ?? 20 }));
    },
  );

  app.get(
    '/admin/v1/integrations/:id/verifications/:verification_id',
    {
      schema: {
        tags,
        summary: 'One verification (as GET /v1/verifications/{id}) with the events recorded about it',
        params: Type.Object({ id: IdParams.properties.id, verification_id: Type.String({ pattern: '^ver_[0-9A-Za-z]{1,64}$' }) }, closed),
        querystring: Type.Object({ mode: Type.Optional(ModeField) }, closed),
        response: { 200: Type.Object({ ...VerificationSchema.properties, events: Type.Array(EventSchema) }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => asIntegration(db, reply, request.params.id, request.query.mode, (t) => verificationDetail(deps, t, request.params.verification_id)),
  );

  app.get(
    '/admin/v1/integrations/:id/live',
    {
      schema: {
        tags,
        summary: "Server-sent events: an integration's events in one mode as they are recorded",
        description: 'text/event-stream; each event is `event: <type>` and `data: {id, type, created_at, data}`; a comment every 15 s keeps it open.',
        params: IdParams,
        querystring: Type.Object({ mode: Type.Optional(ModeField) }, closed),
        response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const mode = request.query.mode ?? 'test';
      const tenant = await operatorTenant(db, request.params.id, mode);
      if (!tenant.ok) return sendProblem(reply, tenant.problem);
      const scope = { integrationId: tenant.value.integrationId, mode };
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
        ...(reply.getHeader('set-cookie') ? { 'set-cookie': reply.getHeader('set-cookie') as string[] } : {}),
      });
      res.write('retry: 2000\n: connected\n\n');
      let since = deps.clock.now();
      const seen = new Set<string>();
      let busy = false;
      let ended = false;
      const poll = async (): Promise<void> => {
        if (busy || ended) return;
        // A console session that lapsed or was signed out ends its streams too (the browser then
        // reconnects, is refused, and goes back to sign-in).
        if (options.stillSignedIn && !options.stillSignedIn(request)) return end();
        busy = true;
        try {
          const events = await eventsSince(db, scope, since);
          for (const e of events) {
            if (seen.has(e.id)) continue;
            if (e.at > since) {
              since = e.at;
              seen.clear();
            }
            seen.add(e.id);
            const { at: _at, ...event } = e;
            res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(event)}\n\n`);
          }
        } catch (err) {
          request.log.warn({ err }, 'console live stream: reading events failed');
        } finally {
          busy = false;
        }
      };
      const timer = setInterval(() => void poll(), options.livePollMs);
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      const end = (): void => {
        if (ended) return;
        ended = true;
        clearInterval(timer);
        clearInterval(heartbeat);
        streams.delete(end);
        if (!res.writableEnded) res.end();
      };
      streams.add(end);
      res.on('close', end);
    },
  );
};
