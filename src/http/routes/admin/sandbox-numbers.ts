import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { addPoolNumber, listPool, removePoolNumber, type PoolDeps } from '../../../services/pool-numbers.js';
import { sendResult } from '../../problem-reply.js';
import { NullableString, errorResponses } from '../../schemas.js';

const closed = { additionalProperties: false } as const;
const tags = ['operator'];

const PoolNumberSchema = Type.Object({
  number: Type.String({ description: 'E.164' }),
  label: NullableString(),
  country: NullableString(),
  rented_by: NullableString({ description: 'The inbox renting it, or null when free' }),
  created_at: Type.String(),
  updated_at: Type.String(),
});

/** The pool of real numbers sandbox phone inboxes rent (`source: "pool"`). */
export const adminSandboxNumberRoutes = (deps: PoolDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/admin/v1/sandbox/numbers',
    {
      schema: {
        tags,
        summary: 'Add a real number to the sandbox pool',
        body: Type.Object({ number: Type.String({ minLength: 1, maxLength: 40 }), label: Type.Optional(Type.String({ maxLength: 200 })) }, closed),
        response: { 201: PoolNumberSchema, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => sendResult(reply, await addPoolNumber(deps, request.body), 201),
  );

  app.get(
    '/admin/v1/sandbox/numbers',
    { schema: { tags, summary: 'The sandbox number pool', response: { 200: Type.Object({ data: Type.Array(PoolNumberSchema) }), ...errorResponses(401) } } },
    async () => listPool(deps),
  );

  app.delete(
    '/admin/v1/sandbox/numbers/:number',
    {
      schema: {
        tags,
        summary: 'Remove a free number from the pool (409 while rented)',
        params: Type.Object({ number: Type.String({ minLength: 1, maxLength: 40 }) }, closed),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const result = await removePoolNumber(deps, request.params.number);
      return result.ok ? reply.code(204).send(null) : sendResult(reply, result);
    },
  );
};
