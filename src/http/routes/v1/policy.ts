import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { EffectivePolicySchema } from '../../../domain/policy-schema.js';
import { tenantOf } from '../../plugins/auth.js';
import { errorResponses } from '../../schemas.js';

export const policyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/policy',
    { schema: { tags: ['policy'], summary: "The integration's effective policy", response: { 200: EffectivePolicySchema, ...errorResponses(401) } } },
    async (request) => tenantOf(request).policy,
  );
};
