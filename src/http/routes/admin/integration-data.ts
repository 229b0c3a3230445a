import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { Result } from '../../../domain/errors.js';
import { getBalance, listTransactions } from '../../../services/balance.js';
import type { ServiceDeps, Tenant } from '../../../services/context.js';
import { getInbox, listInboxSummaries } from '../../../services/inboxes.js';
import { operatorTenant } from '../../../services/operator-views.js';
import { listSandboxMessages } from '../../../services/sandbox-messages.js';
import { listWebhookDeliveries, retryWebhookDelivery, testWebhook } from '../../../services/webhook-deliveries.js';
import { deleteWebhook, getWebhook, patchWebhook } from '../../../services/webhooks.js';
import type { WebhookServiceDeps } from '../../../services/webhooks-context.js';
import { sendProblem, sendResult } from '../../problem-reply.js';
import { ListQuery, NullableString, StringEnum, errorResponses } from '../../schemas.js';
import { BalanceSchema, LedgerEntrySchema } from '../v1/billing.js';
import { InboxSchema, InboxSummarySchema } from '../v1/inboxes.js';
import { MessageSchema } from '../v1/sandbox.js';
import { DeliverySchema as WebhookDeliverySchema, PatchBody as WebhookPatchBody, TestSchema, WebhookSchema, WebhookWithSecretSchema } from '../v1/webhook.js';

const closed = { additionalProperties: false } as const;
const tags = ['operator'];
const IntegrationId = Type.String({ pattern: '^int_[0-9A-Za-z]{1,64}$' });
export const IdParams = Type.Object({ id: IntegrationId }, closed);
export const ModeField = StringEnum(['test', 'live'] as const, { description: 'Which of the integration’s modes (default test), as a key of that mode sees it.' });
const ModeQuery = Type.Object({ mode: Type.Optional(ModeField) }, closed);
const bodiless = async (request: { body: unknown }): Promise<void> => {
  request.body ??= {};
};

/** Runs `work` as the integration in `mode`, or answers 404 for an unknown integration. */
export async function asIntegration<T>(db: ServiceDeps['store']['db'], reply: FastifyReply, id: string, mode: 'test' | 'live' | undefined, work: (tenant: Tenant) => Promise<Result<T>>, status = 200): Promise<FastifyReply> {
  const tenant = await operatorTenant(db, id, mode ?? 'test');
  if (!tenant.ok) return sendProblem(reply, tenant.problem);
  return sendResult(reply, await work(tenant.value), status);
}

/**
 * What an integrator reads and changes with its own key (webhook, sandbox, balance), for the
 * operator: the same services, run as the integration in the mode asked for (API.md "Operator API").
 */
export const adminIntegrationDataRoutes = (deps: ServiceDeps, webhooks: WebhookServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  const db = deps.store.db;

  app.get(
    '/admin/v1/integrations/:id/webhook',
    { schema: { tags, summary: "An integration's webhook in one mode (as GET /v1/webhook)", params: IdParams, querystring: ModeQuery, response: { 200: WebhookSchema, ...errorResponses(400, 401, 404) } } },
    async (request, reply) => asIntegration(db, reply, request.params.id, request.query.mode, (t) => getWebhook(webhooks, t)),
  );
  app.patch(
    '/admin/v1/integrations/:id/webhook',
    { schema: { tags, summary: "Create or change an integration's webhook (as PATCH /v1/webhook)", params: IdParams, querystring: ModeQuery, body: WebhookPatchBody, response: { 200: WebhookWithSecretSchema, ...errorResponses(400, 401, 403, 404, 422) } } },
    async (request, reply) => asIntegration(db, reply, request.params.id, request.query.mode, (t) => patchWebhook(webhooks, t, request.body ?? {})),
  );
  app.delete(
    '/admin/v1/integrations/:id/webhook',
    { schema: { tags, summary: "Remove an integration's webhook (as DELETE /v1/webhook)", params: IdParams, querystring: ModeQuery, response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) } } },
    async (request, reply) => {
      const tenant = await operatorTenant(db, request.params.id, request.query.mode ?? 'test');
      if (!tenant.ok) return sendProblem(reply, tenant.problem);
      const result = await deleteWebhook(webhooks, tenant.value);
      return result.ok ? reply.code(204).send(null) : sendProblem(reply, result.problem);
    },
  );
  app.get(
    '/admin/v1/integrations/:id/webhook/deliveries',
    {
      schema: {
        tags,
        summary: "An integration's webhook deliveries, newest first (as GET /v1/webhook/deliveries)",
        params: IdParams,
        querystring: Type.Object({ mode: Type.Optional(ModeField), ...ListQuery }, closed),
        response: { 200: Type.Object({ data: Type.Array(WebhookDeliverySchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { mode, limit, cursor } = request.query;
      return asIntegration(db, reply, request.params.id, mode, (t) => listWebhookDeliveries(webhooks, t, { limit: limit ?? 20, cursor }));
    },
  );
  app.post(
    '/admin/v1/integrations/:id/webhook/deliveries/:delivery_id/retry',
    {
      preValidation: bodiless,
      schema: {
        tags,
        summary: 'Send a webhook delivery again now (as POST /v1/webhook/deliveries/{id}/retry)',
        params: Type.Object({ id: IntegrationId, delivery_id: Type.String({ pattern: '^whd_[0-9A-Za-z]{1,64}$' }) }, closed),
        querystring: ModeQuery,
        body: Type.Object({}, closed),
        response: { 200: WebhookDeliverySchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => asIntegration(db, reply, request.params.id, request.query.mode, (t) => retryWebhookDelivery(webhooks, t, request.params.delivery_id)),
  );
  app.post(
    '/admin/v1/integrations/:id/webhook/test',
    { preValidation: bodiless, schema: { tags, summary: 'Send a signed webhook.test event now (as POST /v1/webhook/test)', params: IdParams, querystring: ModeQuery, body: Type.Object({}, closed), response: { 200: TestSchema, ...errorResponses(400, 401, 403, 404, 409) } } },
    async (request, reply) => asIntegration(db, reply, request.params.id, request.query.mode, (t) => testWebhook(webhooks, t)),
  );

  app.get(
    '/admin/v1/integrations/:id/sandbox/messages',
    {
      schema: {
        tags,
        summary: "An integration's captured test-mode messages, newest first (as GET /v1/sandbox/messages)",
        params: IdParams,
        querystring: Type.Object({ to: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })), ...ListQuery }, closed),
        response: { 200: Type.Object({ data: Type.Array(MessageSchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { to, limit, cursor } = request.query;
      return asIntegration(db, reply, request.params.id, 'test', (t) => listSandboxMessages(deps, t, { ...(to === undefined ? {} : { to }), limit: limit ?? 20, cursor }));
    },
  );
  app.get(
    '/admin/v1/integrations/:id/sandbox/inboxes',
    {
      schema: {
        tags,
        summary: "An integration's sandbox inboxes, newest first (as GET /v1/sandbox/inboxes)",
        params: IdParams,
        querystring: Type.Object(ListQuery, closed),
        response: { 200: Type.Object({ data: Type.Array(InboxSummarySchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => asIntegration(db, reply, request.params.id, 'test', (t) => listInboxSummaries(deps, t, { limit: request.query.limit ?? 20, cursor: request.query.cursor })),
  );
  app.get(
    '/admin/v1/integrations/:id/sandbox/inboxes/:inbox_id',
    {
      schema: {
        tags,
        summary: 'One sandbox inbox with its codes and messages (as GET /v1/sandbox/inboxes/{id})',
        params: Type.Object({ id: IntegrationId, inbox_id: Type.String({ pattern: '^inb_[0-9A-Za-z]{1,64}$' }) }, closed),
        response: { 200: InboxSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => asIntegration(db, reply, request.params.id, 'test', (t) => getInbox(deps, t, request.params.inbox_id)),
  );

  app.get(
    '/admin/v1/integrations/:id/balance',
    { schema: { tags, summary: "An integration's balance (as GET /v1/balance)", params: IdParams, response: { 200: BalanceSchema, ...errorResponses(401, 404) } } },
    async (request, reply) => asIntegration(db, reply, request.params.id, 'live', async (t) => ({ ok: true, value: await getBalance(db, t) })),
  );
  app.get(
    '/admin/v1/integrations/:id/balance/transactions',
    {
      schema: {
        tags,
        summary: "An integration's ledger, newest first (as GET /v1/balance/transactions)",
        params: IdParams,
        querystring: Type.Object(ListQuery, closed),
        response: { 200: Type.Object({ data: Type.Array(LedgerEntrySchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => asIntegration(db, reply, request.params.id, 'live', (t) => listTransactions(db, t, { limit: request.query.limit ?? 20, cursor: request.query.cursor })),
  );
};
