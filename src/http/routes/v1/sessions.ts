import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { ServiceDeps } from '../../../services/context.js';
import { authorize, currentSession, revokeCurrentSession } from '../../../services/sessions.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendResult } from '../../problem-reply.js';
import { ActionSchema, IdentifierSchema, NullableIdentitySchema, errorResponses } from '../../schemas.js';

const tags = ['otp gate'];
/** Documents (and bounds) the session header; a missing or malformed one is answered 403 by the service. */
const SessionHeaders = Type.Object({ 'x-otp-session': Type.Optional(Type.String({ maxLength: 200, description: 'The otp_session a check returned' })) });
const sessionHeader = (request: FastifyRequest): string | undefined => {
  const value = request.headers['x-otp-session'];
  return typeof value === 'string' ? value.trim() : undefined;
};

const SessionSummary = Type.Object({ identifier: Type.String(), identity: NullableIdentitySchema, expires_at: Type.String() });
const AuthorizeResponse = Type.Object({ allowed: Type.Boolean(), otp_required: Type.Boolean(), session: Type.Optional(SessionSummary) });
const SessionSchema = Type.Object({
  id: Type.String(),
  identifier: Type.String(),
  identity: NullableIdentitySchema,
  action: Type.String(),
  verification_id: Type.String(),
  expires_at: Type.String(),
  created_at: Type.String(),
});

export const sessionRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/v1/authorize',
    {
      schema: {
        tags,
        summary: 'May the app perform this action now? Send the OTP session in X-OTP-Session.',
        headers: SessionHeaders,
        body: Type.Object({ action: ActionSchema, identifier: Type.Optional(IdentifierSchema) }, { additionalProperties: false }),
        response: { 200: AuthorizeResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => sendResult(reply, await authorize(deps, tenantOf(request), request.body, sessionHeader(request))),
  );

  app.get(
    '/v1/sessions/current',
    { schema: { tags, summary: 'Inspect the OTP session in X-OTP-Session', headers: SessionHeaders, response: { 200: SessionSchema, ...errorResponses(401, 403) } } },
    async (request, reply) => sendResult(reply, await currentSession(deps, tenantOf(request), sessionHeader(request))),
  );

  app.delete(
    '/v1/sessions/current',
    { schema: { tags, summary: 'Revoke the OTP session in X-OTP-Session', headers: SessionHeaders, response: { 200: Type.Object({ id: Type.String(), revoked: Type.Boolean() }), ...errorResponses(401, 403) } } },
    async (request, reply) => sendResult(reply, await revokeCurrentSession(deps, tenantOf(request), sessionHeader(request))),
  );
};
