import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { EffectivePolicySchema, PolicyPatchSchema, TrustLevelSchema } from '../../../domain/policy-schema.js';
import {
  createIntegration,
  createKey,
  deleteIntegration,
  deleteKey,
  getIntegration,
  listIntegrationsPage,
  patchIntegration,
  type AdminDeps,
} from '../../../services/integrations.js';
import { sendResult } from '../../problem-reply.js';
import { ListQuery, NullableString, errorResponses } from '../../schemas.js';

const closed = { additionalProperties: false } as const;
const tags = ['operator'];
const IdParams = Type.Object({ id: Type.String({ pattern: '^int_[0-9A-Za-z]{1,64}$' }) }, closed);
const KeyParams = Type.Object({ id: Type.String({ pattern: '^int_[0-9A-Za-z]{1,64}$' }), key_id: Type.String({ pattern: '^key_[0-9A-Za-z]{1,64}$' }) }, closed);
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
const Mode = Type.Union([Type.Literal('test'), Type.Literal('live')]);

const IssuedKeySchema = Type.Object({ id: Type.String(), mode: Mode, key: Type.String(), signing_secret: Type.String(), created_at: Type.String() });
const KeySchema = Type.Object({ id: Type.String(), mode: Mode, prefix: Type.String(), created_at: Type.String(), revoked_at: NullableString() });
const IntegrationSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  trust_level: Type.String(),
  policy: EffectivePolicySchema,
  created_at: Type.String(),
  updated_at: Type.String(),
  keys: Type.Optional(Type.Array(KeySchema)),
});
const CreatedSchema = Type.Object({ ...IntegrationSchema.properties, keys: Type.Object({ test: IssuedKeySchema, live: IssuedKeySchema }) });

export const adminIntegrationRoutes = (deps: AdminDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/admin/v1/integrations',
    {
      schema: {
        tags,
        summary: 'Create an integration with a test and a live key (secrets shown once)',
        body: Type.Object({ name: Name, trust_level: Type.Optional(TrustLevelSchema), policy: Type.Optional(PolicyPatchSchema) }, closed),
        response: { 201: CreatedSchema, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { keys_issued, ...integration } = await createIntegration(deps, request.body, request.idempotency);
      return reply.code(201).send({ ...integration, keys: keys_issued });
    },
  );

  app.get(
    '/admin/v1/integrations',
    { schema: { tags, summary: 'List integrations, newest first', querystring: Type.Object(ListQuery, closed), response: { 200: Type.Object({ data: Type.Array(IntegrationSchema), next_cursor: NullableString() }), ...errorResponses(400, 401) } } },
    async (request, reply) => sendResult(reply, await listIntegrationsPage(deps, request.query.limit ?? 20, request.query.cursor)),
  );

  app.get(
    '/admin/v1/integrations/:id',
    { schema: { tags, summary: 'Get an integration and its keys', params: IdParams, response: { 200: IntegrationSchema, ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await getIntegration(deps, request.params.id)),
  );

  app.patch(
    '/admin/v1/integrations/:id',
    {
      schema: {
        tags,
        summary: 'Rename, change the trust level, or merge a partial policy',
        params: IdParams,
        body: Type.Object({ name: Type.Optional(Name), trust_level: Type.Optional(TrustLevelSchema), policy: Type.Optional(PolicyPatchSchema) }, closed),
        response: { 200: IntegrationSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => sendResult(reply, await patchIntegration(deps, request.params.id, request.body)),
  );

  app.delete(
    '/admin/v1/integrations/:id',
    { schema: { tags, summary: 'Delete an integration and revoke its keys', params: IdParams, response: { 200: Type.Object({ id: Type.String(), deleted: Type.Boolean() }), ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await deleteIntegration(deps, request.params.id)),
  );

  app.post(
    '/admin/v1/integrations/:id/keys',
    {
      schema: { tags, summary: 'Issue another key (shown once)', params: IdParams, body: Type.Object({ mode: Mode }, closed), response: { 201: IssuedKeySchema, ...errorResponses(400, 401, 404) } },
    },
    async (request, reply) => sendResult(reply, await createKey(deps, request.params.id, request.body.mode, request.idempotency), 201),
  );

  app.delete(
    '/admin/v1/integrations/:id/keys/:key_id',
    { schema: { tags, summary: 'Revoke a key', params: KeyParams, response: { 200: KeySchema, ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await deleteKey(deps, request.params.id, request.params.key_id)),
  );
};
