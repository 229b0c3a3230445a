import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ServiceDeps } from '../../../services/context.js';
import { listSandboxMessages } from '../../../services/sandbox-messages.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendResult } from '../../problem-reply.js';
import { ListQuery, NullableString, errorResponses } from '../../schemas.js';

export const MessageSchema = Type.Object({
  id: Type.String(),
  to: Type.String(),
  channel: Type.String(),
  subject: NullableString(),
  body: Type.String(),
  code: NullableString({ description: 'The OTP extracted from the body' }),
  verification_id: NullableString(),
  received_at: Type.String(),
});

export const sandboxRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.get(
    '/v1/sandbox/messages',
    {
      schema: {
        tags: ['sandbox'],
        summary: 'Messages captured in test mode, newest first',
        querystring: Type.Object({ to: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })), ...ListQuery }, { additionalProperties: false }),
        response: { 200: Type.Object({ data: Type.Array(MessageSchema), next_cursor: NullableString() }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const { to, limit, cursor } = request.query;
      return sendResult(reply, await listSandboxMessages(deps, tenantOf(request), { to, limit: limit ?? 20, cursor }));
    },
  );
};
