import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PolicyAnswerSchema } from '../../../domain/policy-schema.js';
import type { ServiceDeps } from '../../../services/context.js';
import { availableChannels } from '../../../services/live-channels.js';
import { tenantOf } from '../../plugins/auth.js';
import { errorResponses } from '../../schemas.js';

export function policyRoutes(deps: ServiceDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/policy',
      { schema: { tags: ['policy'], summary: "The integration's effective policy and the channels live for this key", response: { 200: PolicyAnswerSchema, ...errorResponses(401) } } },
      async (request) => {
        const tenant = tenantOf(request);
        const available = await availableChannels(deps, tenant);
        return { ...tenant.policy, channels_available: tenant.policy.channels.filter((c) => available(c)) };
      },
    );
  };
}
