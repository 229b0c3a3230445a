import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { INBOX_STATUSES, type InboxAction } from '../../../domain/inbox.js';
import type { ServiceDeps } from '../../../services/context.js';
import { actOnInbox, createInbox, listInboxSummaries } from '../../../services/inboxes.js';
import { inboxSettings } from '../../../services/inbox-settings.js';
import { MAX_INBOX_WAIT_S, waitForInbox } from '../../../services/inbox-wait.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendResult } from '../../problem-reply.js';
import { ListQuery, NullableString, StringEnum, errorResponses } from '../../schemas.js';

const tags = ['sandbox'];
const closed = { additionalProperties: false } as const;

const InboxIdParams = Type.Object({ id: Type.String({ pattern: '^inb_[0-9A-Za-z]{1,64}$' }) }, closed);

const CreateBody = Type.Object(
  {
    kind: StringEnum(['phone', 'email'] as const),
    country: Type.Optional(Type.String({ minLength: 2, maxLength: 2, description: 'ISO 3166-1 alpha-2 (phone inboxes; default US for a generated number)' })),
    regex: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Finds the code: the named group `code`, else the first group, else the whole match' })),
    source: Type.Optional(StringEnum(['generated', 'pool'] as const, { description: 'generated (a fictitious number, default) or pool (a real number the operator lends)' })),
  },
  closed,
);

const summaryFields = {
  id: Type.String(),
  kind: Type.String({ description: 'phone | email' }),
  address: Type.String({ description: 'The number (E.164) or email address to send to' }),
  source: Type.String({ description: 'generated | pool' }),
  country: NullableString(),
  regex: NullableString(),
  status: StringEnum(INBOX_STATUSES),
  expires_at: Type.String({ description: 'End of the waiting window (reorder opens a new one)' }),
  otp_code: NullableString({ description: 'The latest code' }),
  otp_count: Type.Integer({ description: 'Codes received so far: pass as ?after= to wait for the next one' }),
  created_at: Type.String(),
  updated_at: Type.String(),
};
export const InboxSummarySchema = Type.Object(summaryFields);
export const InboxSchema = Type.Object({
  ...summaryFields,
  otps: Type.Array(Type.Object({ code: Type.String(), received_at: Type.String() }), { description: 'Every code, oldest first' }),
  messages: Type.Array(
    Type.Object({
      id: Type.String(),
      channel: Type.String(),
      from: Type.String(),
      subject: NullableString(),
      text: Type.String(),
      code: NullableString(),
      received_at: Type.String(),
    }),
    { description: 'Every message, oldest first' },
  ),
});

const GetQuery = Type.Object(
  {
    wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_INBOX_WAIT_S, description: 'Hold the answer up to this many seconds until a new code arrives' })),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'With wait: answer once the inbox holds more than this many codes (default: as many as now)' })),
  },
  closed,
);

/** finish and cancel and reorder take no body: a bodiless POST is read as `{}`. */
const emptyBodyAsObject = async (request: { body: unknown }): Promise<void> => {
  request.body ??= {};
};

export const inboxRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  // Graceful shutdown: waiting requests are answered at once with the inbox as it is.
  app.addHook('preClose', async () => inboxSettings(deps).waiters.closeAll());

  app.post(
    '/v1/sandbox/inboxes',
    { schema: { tags, summary: 'Rent a sandbox inbox (a number or an email address)', body: CreateBody, response: { 201: InboxSummarySchema, ...errorResponses(400, 401, 402, 403, 422) } } },
    async (request, reply) => sendResult(reply, await createInbox(deps, tenantOf(request), request.body, request.idempotency), 201),
  );

  app.get(
    '/v1/sandbox/inboxes',
    {
      schema: {
        tags,
        summary: 'Sandbox inboxes, newest first',
        querystring: Type.Object(ListQuery, closed),
        response: { 200: Type.Object({ data: Type.Array(InboxSummarySchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => sendResult(reply, await listInboxSummaries(deps, tenantOf(request), { limit: request.query.limit ?? 20, cursor: request.query.cursor })),
  );

  app.get(
    '/v1/sandbox/inboxes/:id',
    { schema: { tags, summary: 'An inbox with its codes and messages (long-poll with ?wait=)', params: InboxIdParams, querystring: GetQuery, response: { 200: InboxSchema, ...errorResponses(400, 401, 403, 404) } } },
    async (request, reply) => {
      // A client that goes away releases its waiter.
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableEnded) gone.abort();
      });
      const { wait, after } = request.query;
      const result = await waitForInbox(deps, tenantOf(request), request.params.id, { waitS: wait ?? 0, ...(after === undefined ? {} : { after }), signal: gone.signal });
      return sendResult(reply, result);
    },
  );

  for (const action of ['finish', 'cancel', 'reorder'] as const satisfies readonly InboxAction[]) {
    app.post(
      `/v1/sandbox/inboxes/:id/${action}`,
      {
        preValidation: emptyBodyAsObject,
        schema: { tags, summary: `${action[0]?.toUpperCase()}${action.slice(1)} an inbox`, params: InboxIdParams, body: Type.Object({}, closed), response: { 200: InboxSchema, ...errorResponses(401, 403, 404, 409) } },
      },
      async (request, reply) => sendResult(reply, await actOnInbox(deps, tenantOf(request), request.params.id, action)),
    );
  }
};
