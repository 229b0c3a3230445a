import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ServiceDeps } from '../../../services/context.js';
import { createIdentity, getIdentity, patchIdentity, searchIdentities } from '../../../services/identities.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendResult } from '../../problem-reply.js';
import { IdentifierSchema, IdentitySchema, errorResponses } from '../../schemas.js';

const closed = { additionalProperties: false } as const;
const tags = ['identities'];
const Reference = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@+-]+$', description: 'Your stable id for the customer' });
const Nullable = (max: number) => Type.Union([Type.String({ minLength: 1, maxLength: max }), Type.Null()]);
const Fields = {
  email: Type.Optional(Nullable(320)),
  phone: Type.Optional(Nullable(64)),
  cpf: Type.Optional(Nullable(32)),
  name: Type.Optional(Nullable(200)),
};
const ReferenceParams = Type.Object({ reference: Reference }, closed);

export const identityRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/v1/identities',
    {
      schema: {
        tags,
        summary: 'Create an identity (only reference is required: a sparse identity)',
        body: Type.Object({ reference: Reference, ...Fields }, closed),
        response: { 201: IdentitySchema, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => sendResult(reply, await createIdentity(deps, tenantOf(request), request.body), 201),
  );

  app.get(
    '/v1/identities',
    {
      schema: {
        tags,
        summary: 'Find identities by phone, email or CPF',
        querystring: Type.Object({ identifier: IdentifierSchema }, closed),
        response: { 200: Type.Object({ data: Type.Array(IdentitySchema), next_cursor: Type.Null() }), ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => sendResult(reply, await searchIdentities(deps, tenantOf(request), request.query.identifier)),
  );

  app.get(
    '/v1/identities/:reference',
    { schema: { tags, summary: 'Get an identity by any of its references', params: ReferenceParams, response: { 200: IdentitySchema, ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await getIdentity(deps, tenantOf(request), request.params.reference)),
  );

  app.patch(
    '/v1/identities/:reference',
    {
      schema: {
        tags,
        summary: 'Update an identity; a changed email or phone is unverified until a verification proves it',
        params: ReferenceParams,
        body: Type.Object(Fields, closed),
        response: { 200: IdentitySchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => sendResult(reply, await patchIdentity(deps, tenantOf(request), request.params.reference, request.body)),
  );
};
