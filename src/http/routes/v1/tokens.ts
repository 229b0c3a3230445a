import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ServiceDeps } from '../../../services/context.js';
import { introspectToken } from '../../../services/sessions.js';
import { tenantOf } from '../../plugins/auth.js';
import { errorResponses, StringEnum } from '../../schemas.js';

const IntrospectionSchema = Type.Object({
  active: Type.Boolean({ description: 'True only for a good, unexpired token of this key’s integration and mode whose OTP session is not revoked.' }),
  scope: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String({ description: '`<integration id>:<mode>`' })),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  mode: Type.Optional(StringEnum(['test', 'live'] as const)),
  client_id: Type.Optional(Type.String({ description: 'The integration id' })),
});

/** RFC 7662 token introspection for the access tokens a check returns. */
export const tokenRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/v1/tokens/introspect',
    {
      schema: {
        tags: ['otp gate'],
        summary: 'Is this access token active? (RFC 7662; other integration or mode → inactive)',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
        response: { 200: IntrospectionSchema, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return introspectToken(deps, tenantOf(request), request.body.token);
    },
  );
};
