import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listWebhookDeliveries, retryWebhookDelivery, testWebhook } from '../../../services/webhook-deliveries.js';
import { deleteWebhook, getWebhook, patchWebhook } from '../../../services/webhooks.js';
import type { WebhookServiceDeps } from '../../../services/webhooks-context.js';
import { WEBHOOK_EVENT_TYPES } from '../../../webhooks/event-types.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendProblem, sendResult } from '../../problem-reply.js';
import { ListQuery, NullableString, StringEnum, errorResponses } from '../../schemas.js';

const tags = ['webhooks'];
/** retry and test take no fields: a bodiless POST is read as `{}`, anything else is refused (400). */
const emptyBodyAsObject = async (request: { body: unknown }): Promise<void> => {
  request.body ??= {};
};
const closed = { additionalProperties: false } as const;
const NullableInteger = Type.Unsafe<number | null>({ type: ['integer', 'null'] });

const EventName = StringEnum(['*', ...WEBHOOK_EVENT_TYPES] as const, { description: 'An event type, or * for all.' });

export const WebhookSchema = Type.Object({
  url: Type.String(),
  events: Type.Array(Type.String()),
  is_active: Type.Boolean(),
  disabled_reason: NullableString({ description: 'Why the server turned the endpoint off (a 410 answer); null otherwise.' }),
  previous_secret_expires_at: NullableString({ description: 'Until when the replaced secret still signs beside the current one.' }),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export const WebhookWithSecretSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.Optional(Type.String({ description: 'Only in the answer of the PATCH that set it (generated, or the one given).' })),
});

export const PatchBody = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'An https URL that resolves to public addresses only (required to create).' })),
    events: Type.Optional(Type.Array(EventName, { minItems: 1, maxItems: 32, description: 'Event types to send (default ["*"]).' })),
    secret: Type.Optional(Type.String({ maxLength: 200, pattern: '^[\\x21-\\x7e]*$', description: 'Your own signing secret (16+ characters); shorter or absent on creation: one is generated.' })),
    is_active: Type.Optional(Type.Boolean({ description: 'false pauses delivery (events are held); true resumes it and sends what was held.' })),
  },
  closed,
);

export const DeliverySchema = Type.Object({
  id: Type.String(),
  event_id: Type.String(),
  event_type: Type.String(),
  status: StringEnum(['pending', 'succeeded', 'failed', 'held'] as const),
  attempts: Type.Integer(),
  next_attempt_at: NullableString(),
  last_attempt_at: NullableString(),
  response_status: NullableInteger,
  response_time_ms: NullableInteger,
  response_body: NullableString({ description: 'The start of the last answer (at most 1,024 characters).' }),
  error: NullableString(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

const DeliveryParams = Type.Object({ id: Type.String({ pattern: '^whd_[0-9A-Za-z]{1,64}$' }) }, closed);

export const TestSchema = Type.Object({
  event_id: Type.String(),
  delivered: Type.Boolean(),
  status: NullableInteger,
  response_time_ms: Type.Integer(),
  response_body: NullableString(),
  error: NullableString(),
});

/** `/v1/webhook`: the integration's endpoint for its key's mode, its deliveries, and a test send. */
export const webhookRoutes = (deps: WebhookServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.get(
    '/v1/webhook',
    { schema: { tags, summary: 'The webhook configuration (never its secret)', response: { 200: WebhookSchema, ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await getWebhook(deps, tenantOf(request))),
  );

  app.patch(
    '/v1/webhook',
    { schema: { tags, summary: 'Create or change the webhook; the answer shows a secret it set, once', body: PatchBody, response: { 200: WebhookWithSecretSchema, ...errorResponses(400, 401, 422) } } },
    async (request, reply) => sendResult(reply, await patchWebhook(deps, tenantOf(request), request.body ?? {})),
  );

  app.delete(
    '/v1/webhook',
    { schema: { tags, summary: 'Remove the webhook and its deliveries', response: { 204: Type.Null(), ...errorResponses(401, 404) } } },
    async (request, reply) => {
      const result = await deleteWebhook(deps, tenantOf(request));
      return result.ok ? reply.code(204).send(null) : sendProblem(reply, result.problem);
    },
  );

  app.get(
    '/v1/webhook/deliveries',
    {
      schema: {
        tags,
        summary: 'Webhook deliveries, newest first',
        querystring: Type.Object(ListQuery, closed),
        response: { 200: Type.Object({ data: Type.Array(DeliverySchema), next_cursor: NullableString() }), ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query;
      return sendResult(reply, await listWebhookDeliveries(deps, tenantOf(request), { limit: limit ?? 20, cursor }));
    },
  );

  app.post(
    '/v1/webhook/deliveries/:id/retry',
    { preValidation: emptyBodyAsObject, schema: { tags, summary: 'Send a delivery again now (same webhook-id)', params: DeliveryParams, body: Type.Object({}, closed), response: { 200: DeliverySchema, ...errorResponses(400, 401, 404, 409) } } },
    async (request, reply) => sendResult(reply, await retryWebhookDelivery(deps, tenantOf(request), request.params.id)),
  );

  app.post(
    '/v1/webhook/test',
    { preValidation: emptyBodyAsObject, schema: { tags, summary: "Send a signed webhook.test event now; answers with the receiver's status", body: Type.Object({}, closed), response: { 200: TestSchema, ...errorResponses(400, 401, 404, 409) } } },
    async (request, reply) => sendResult(reply, await testWebhook(deps, tenantOf(request))),
  );
};
